package io.iqa.cli;

import io.iqa.testkit.StandInDocker;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.sidecar.SidecarMain;
import io.iqa.sidecar.samples.SampleImages;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The client's findings replayed with {@code iqa} as its own process: local file problems are the
 * file's (never a fallback), odd files are refused instead of hanging, unreadable folders are
 * skipped, a fallback answer replaces the failed sidecar row, the fallback's timeout stops its
 * command on time, exit codes are the documented ones, and server text cannot drive the terminal.
 */
class IqaCliHostileTest extends IqaCliFixture {

  private Path photos;

  @BeforeEach
  void start() throws Exception {
    photos = Files.createDirectories(dir.resolve("photos"));
    ImageIO.write(SampleImages.scene(64), "jpeg", photos.resolve("a.jpg").toFile());
    ImageIO.write(SampleImages.blur(SampleImages.scene(64), 2), "jpeg", photos.resolve("b.jpg").toFile());
  }

  /** A client config: the sidecar is down (nothing listens on port 1); the fallback as given. */
  private Path conf(JsonObject fallback) throws Exception {
    Path conf = Files.createTempFile(dir, "client", ".json");
    Files.writeString(conf, new JsonObject().put("sidecar_url", "http://127.0.0.1:1").put("broker_url", brokerUrl)
        .put("fallback", fallback).encode());
    return conf;
  }

  /** A stand-in docker that records its runs and answers with the real score command. */
  private Path docker(String before) throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    return StandInDocker.write(dir.resolve("bin"), """
        #!/bin/bash
        echo "$*" >> "$(dirname "$0")/runs"
        %s
        while [ "$1" != "score" ]; do
          case "$1" in -v) dir="${2%%%%:/in:ro}"; shift 2;; *) shift;; esac
        done
        shift
        files=(); for f in "$@"; do files+=("$dir/${f#/in/}"); done
        exec "%s" -cp "%s" %s score --models tech_sharpness "${files[@]}"
        """.formatted(before, java, System.getProperty("java.class.path"), SidecarMain.class.getName()));
  }

  @Test
  void localFileProblemsAreTheFilesNeverAFallbackAndOddFilesAreRefusedNotWaitedOn() throws Exception {
    Path bin = docker("");
    Path conf = conf(new JsonObject().put("search_path", bin.toString()).put("lease_wait_s", 0.5));
    Path fifo = dir.resolve("pipe.jpg");
    new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor(10, TimeUnit.SECONDS);
    Iqa.Run r = Iqa.run("--conf", conf.toString(), "score", "--json", fifo.toString(),
        photos.resolve("a.jpg").toString());
    assertTrue(r.millis() < 60_000, "a FIFO argument must not hang");
    assertEquals(IqaMain.PARTLY_FAILED, r.exit(), r.out() + r.err());
    List<JsonObject> lines = r.out().lines().map(JsonObject::new).toList();
    assertEquals(2, lines.size(), "one line per image: " + r.out());
    assertTrue(lines.get(0).getString("error").contains("not a regular file"), lines.get(0).encode());
    String runs = Files.readString(bin.resolve("runs"));
    assertFalse(runs.contains("pipe.jpg"), "a local file problem must never go to the container: " + runs);
    assertFalse(runs.contains(" / ") || runs.contains("-v /:/in"), "never mount / into the container: " + runs);

    Iqa.Run missing = Iqa.run("--conf", conf.toString(), "score", "/nope.jpg");
    assertEquals(IqaMain.USAGE, missing.exit(), "a missing file named on the command line is a usage error");
    assertFalse(Files.readString(bin.resolve("runs")).contains("-v /:/in"), "never mount / into the container");

    // A name that is not valid UTF-8: read through its path, it cannot be named to the container.
    Path odd = Files.createDirectories(dir.resolve("odd"));
    new ProcessBuilder("sh", "-c", "cp \"$0\" \"$1/$(printf 'bad\\377.jpg')\" && cp \"$0\" \"$1/good.jpg\"",
        photos.resolve("a.jpg").toString(), odd.toString()).start().waitFor(10, TimeUnit.SECONDS);
    Iqa.Run names = Iqa.run("--conf", conf.toString(), "score", "--json", odd.toString());
    List<JsonObject> answers = names.out().lines().map(JsonObject::new).toList();
    assertEquals(2, answers.size(), names.out() + names.err());
    assertTrue(answers.get(0).getString("error", "").startsWith("bad_file_name"), answers.get(0).encode());
    assertEquals("container", answers.get(1).getString("served_by"), "the other file goes on: " + answers.get(1));
    assertEquals(IqaMain.PARTLY_FAILED, names.exit());
  }

  @Test
  void aWorkingFallbackPrintsEachImageOnceAndItsTimeoutStopsItOnTime() throws Exception {
    Path bin = docker("");
    // A relative folder on purpose (so its own process, working in dir): the finding printed each
    // image twice (relative and absolute).
    Iqa.Run ok = Iqa.process(dir, List.of(), "--conf", conf(new JsonObject().put("search_path", bin.toString())
        .put("lease_wait_s", 0.5)).toString(), "score", "--json", "photos");
    assertEquals(0, ok.exit(), ok.out() + ok.err());
    assertEquals(2, ok.out().lines().count(), "each image once: " + ok.out());
    Path slow = docker("sleep 20");
    Iqa.Run timedOut = Iqa.run("--conf", conf(new JsonObject().put("search_path", slow.toString())
        .put("timeout_s", 2)
        .put("lease_wait_s", 0.5)).toString(), "score", photos.toString());
    assertTrue(timedOut.millis() < 15_000, "fallback.timeout_s=2 but iqa ran " + timedOut.millis() + " ms");
    assertTrue(timedOut.out().contains("timed out") || timedOut.err().contains("timed out"),
        timedOut.out() + timedOut.err());
    Iqa.Run once = Iqa.run("--conf", conf(new JsonObject().put("search_path", bin.toString())
        .put("lease_wait_s", 0.5))
        .toString(), "score", "--json", photos.toString());
    assertEquals(0, once.exit(), once.out() + once.err());
    List<String> lines = once.out().lines().toList();
    assertEquals(2, lines.size(), "each image once, the container's answer replacing the sidecar's error: " + once.out());
    assertTrue(lines.stream().allMatch(l -> l.contains("\"served_by\":\"container\"")), once.out());
  }

  @Test
  void unreadableFoldersAreSkippedWithAWarning() throws Exception {
    Path locked = Files.createDirectories(photos.resolve("locked"));
    Files.setPosixFilePermissions(locked, PosixFilePermissions.fromString("---------"));
    // root reads every folder: without its two read-override capabilities it reads as its owner does.
    List<String> asOwner = "root".equals(System.getProperty("user.name"))
        ? List.of("setpriv", "--bounding-set=-dac_override,-dac_read_search", "--") : List.of();
    try {
      Iqa.Run r = Iqa.process(dir, asOwner, "--conf", conf(new JsonObject().put("enabled", false)).toString(),
          "score",
          photos.toString());
      assertTrue(r.err().contains("skipping") && r.err().contains("locked"), r.err());
      assertTrue(r.out().contains("a.jpg"), "the readable images must still be listed: " + r.out());
    } finally {
      Files.setPosixFilePermissions(locked, PosixFilePermissions.fromString("rwx------"));
    }
  }

  @Test
  void exitCodesAreTheDocumentedOnes() throws Exception {
    assertEquals(IqaMain.USAGE, Iqa.run().exit(), "iqa without a command is a usage error");
    assertEquals(IqaMain.USAGE, Iqa.run("gpu").exit());
    Iqa.Run down = Iqa.run("--conf", conf(new JsonObject().put("enabled", false)).toString(), "score",
        photos.toString());
    assertEquals(IqaMain.UNREACHABLE, down.exit(), "sidecar down, no fallback: " + down.out() + down.err());
    Iqa.Run typo = Iqa.run(Map.of("IQA_CLIENT_SIDECARURL", "http://x"), "score", photos.toString());
    assertEquals(IqaMain.USAGE, typo.exit(), "a config mistake is a usage error: " + typo.err());
    assertTrue(typo.err().contains("IQA_CLIENT_SIDECARURL"), typo.err());
    Path badBlock = Files.writeString(dir.resolve("bad.json"), "{\"fallback\": {\"timeout\": 5}}");
    Iqa.Run block = Iqa.run("--conf", badBlock.toString(), "score", photos.toString());
    assertEquals(IqaMain.USAGE, block.exit());
    assertTrue(block.err().contains("fallback.timeout"), block.err());
  }

  @Test
  void textFromTheBrokerCannotDriveTheTerminal() throws Exception {
    String evil = "job\r\n\u001b[2J\u001b[31mFAKE LINE \u202eevil";
    HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(brokerUrl + "/v1/gpu/lease"))
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(new JsonObject().put("owner", "x").put("purpose", evil).encode()))
        .build(), HttpResponse.BodyHandlers.ofString());
    Iqa.Run status = Iqa.run("--conf", conf(new JsonObject().put("enabled", false)).toString(), "gpu", "status");
    assertEquals(0, status.exit(), status.err());
    assertFalse(status.out().contains("\u001b") || status.out().contains("\r") || status.out().contains("\u202e"),
        "raw control characters (or a right-to-left override) reached the terminal: " + status.out());
    assertTrue(status.out().contains("job\\u000d\\u000a\\u001b[2J"), status.out());
  }
}
