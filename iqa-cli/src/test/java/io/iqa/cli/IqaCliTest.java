package io.iqa.cli;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.client.LeaseClient;
import io.iqa.sidecar.samples.SampleImages;
import io.iqa.sidecar.service.SidecarOptions;
import io.iqa.sidecar.service.SidecarVerticle;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** iqa as a user runs it: its stdout, stderr and exit code (in-process: the same command line as main). */
class IqaCliTest extends IqaCliFixture {

  private Path conf;
  private Path photos;

  @BeforeEach
  void start() throws Exception {
    SidecarVerticle sidecar = new SidecarVerticle(SidecarOptions.read(new JsonObject().put("port", 0)
        .put("broker", new JsonObject().put("url", brokerUrl))
        // required: it leases on this CPU-only machine as it would on a GPU one
        .put("lease", new JsonObject().put("owner", "iqa-sidecar").put("required", true))
        .put("models", new JsonArray().add(new JsonObject().put("name", "tech_sharpness").put("backend", "builtin")))),
        dir);
    vertx.deployVerticle(sidecar).await(120, TimeUnit.SECONDS);
    conf = dir.resolve("client.json");
    Files.writeString(conf, new JsonObject().put("sidecar_url", "http://127.0.0.1:" + sidecar.actualPort())
        .put("broker_url", brokerUrl).put("fallback", new JsonObject().put("enabled", false)).encode());
    photos = Files.createDirectories(dir.resolve("photos/nested"));
    ImageIO.write(SampleImages.scene(96), "jpeg", photos.resolve("a.jpg").toFile());
    ImageIO.write(SampleImages.blur(SampleImages.scene(96), 3), "png", photos.getParent().resolve("b.png").toFile());
    Files.writeString(photos.resolve("readme.txt"), "not scored: not an image extension");
  }

  @Test
  void scoreFoldersAsATableCsvOrJson() throws Exception {
    Iqa.Run table = Iqa.run("--conf", conf.toString(), "score", photos.getParent().toString());
    assertEquals(0, table.exit(), table.err());
    String[] lines = table.out().split("\n");
    assertTrue(lines[0].startsWith("image") && lines[0].contains("tech_sharpness") && lines[0].contains("served_by"),
        lines[0]);
    assertTrue(lines[1].contains("0-100, higher is better"), "the second header line states each model's scale: " + lines[1]);
    assertEquals(4, lines.length, "two header lines + the two images (readme.txt is skipped):\n" + table.out());
    assertTrue(table.out().contains("sidecar"), table.out());
    assertTrue(table.err().contains("2/2 images"), "progress bar on stderr: " + table.err());

    Iqa.Run csv = Iqa.run("--conf", conf.toString(), "score", "--csv", photos.resolve("a.jpg").toString());
    assertEquals("image,tech_sharpness,served_by,error", csv.out().split("\n")[0]);
    Iqa.Run json = Iqa.run("--conf", conf.toString(), "score", "--json", photos.resolve("a.jpg").toString());
    JsonObject line = new JsonObject(json.out().trim());
    assertEquals("sidecar", line.getString("served_by"));
    assertTrue(line.getJsonObject("scores").getDouble("tech_sharpness") > 0);
  }

  @Test
  void urlsModelsAndOutputFileFromTheCommandLine() throws Exception {
    String sidecarUrl = new JsonObject(Files.readString(conf)).getString("sidecar_url");
    Path nowhere = Files.writeString(dir.resolve("nowhere.json"), new JsonObject()
        .put("sidecar_url", "http://127.0.0.1:1").put("broker_url", "http://127.0.0.1:1")
        .put("fallback", new JsonObject().put("enabled", false)).encode());
    Path file = dir.resolve("out/scores.csv");
    Files.createDirectories(file.getParent());
    Iqa.Run r = Iqa.run("--conf", nowhere.toString(), "--sidecar-url", sidecarUrl, "score", "--csv",
        "--models", "tech_sharpness", "--output", file.toString(), photos.resolve("a.jpg").toString());
    assertEquals(0, r.exit(), "the command line's --sidecar-url wins over the config file: " + r.err());
    assertEquals("", r.out(), "the scores go to the file, not to stdout");
    List<String> lines = Files.readAllLines(file);
    assertEquals("image,tech_sharpness,served_by,error", lines.get(0), "only the model asked for");
    assertTrue(lines.get(1).endsWith(",sidecar,"), lines.get(1));
    assertTrue(r.err().contains("1 image(s) scored into"), r.err());

    Iqa.Run status = Iqa.run("--conf", nowhere.toString(), "--broker-url", brokerUrl, "gpu", "status");
    assertEquals(0, status.exit(), "--broker-url wins too: " + status.err());
  }

  @Test
  void exitCodesScriptsCanTrust() throws Exception {
    Iqa.Run bad = Iqa.run("--conf", conf.toString(), "score", dir.resolve("missing.jpg").toString());
    assertEquals(IqaMain.USAGE, bad.exit());
    assertTrue(bad.err().contains("no such file or folder"), bad.err());

    Path notImage = dir.resolve("fake.jpg");
    Files.writeString(notImage, "text");
    Iqa.Run partly = Iqa.run("--conf", conf.toString(), "score", "--no-progress", notImage.toString(),
        photos.resolve("a.jpg").toString());
    assertEquals(IqaMain.PARTLY_FAILED, partly.exit(), partly.out() + partly.err());
    assertTrue(partly.out().contains("bad_image"), partly.out());

    Path nowhere = dir.resolve("nowhere.json");
    Files.writeString(nowhere, "{\"broker_url\": \"http://127.0.0.1:1\", \"sidecar_url\": \"http://127.0.0.1:1\","
        + " \"fallback\": {\"enabled\": false}}");
    Iqa.Run unreachable = Iqa.run("--conf", nowhere.toString(), "gpu", "status");
    assertEquals(IqaMain.UNREACHABLE, unreachable.exit());
    assertTrue(unreachable.err().contains("unreachable"), unreachable.err());
    Iqa.Run noSidecar = Iqa.run("--conf", nowhere.toString(), "score", photos.resolve("a.jpg").toString());
    assertEquals(IqaMain.UNREACHABLE, noSidecar.exit(), noSidecar.out() + noSidecar.err());
  }

  @Test
  void gpuStatusForceReleaseAndSidecarShutdown() throws Exception {
    Iqa.Run status = Iqa.run("--conf", conf.toString(), "gpu", "status");
    assertEquals(0, status.exit(), status.err());
    assertTrue(status.out().contains("held") && status.out().contains("iqa-sidecar"), status.out());

    Iqa.Run released = Iqa.run("--conf", conf.toString(), "gpu", "force-release", "--owner", "iqa-sidecar",
        "--reason", "test");
    assertEquals(0, released.exit(), released.err());
    assertTrue(released.out().startsWith("revoked lease"), released.out());
    // The sidecar hears of the revocation, stops its models and releases: then the GPU is free.
    try (LeaseClient watch = new LeaseClient(brokerUrl)) {
      await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(100))
          .until(() -> watch.status().path("gpus").get(0).path("leases").isEmpty());
    }
    Iqa.Run free = Iqa.run("--conf", conf.toString(), "gpu", "status");
    assertTrue(free.out().contains("free"), free.out());

    Iqa.Run both = Iqa.run("--conf", conf.toString(), "gpu", "force-release", "--lease", "1", "--owner", "x");
    assertEquals(IqaMain.USAGE, both.exit(), "--lease and --owner exclude each other");

    Iqa.Run release = Iqa.run("--conf", conf.toString(), "sidecar", "release");
    assertEquals(0, release.exit(), release.err());
    assertTrue(release.out().contains("lease is released"), release.out());

    Iqa.Run shutdown = Iqa.run("--conf", conf.toString(), "sidecar", "shutdown");
    assertEquals(0, shutdown.exit(), shutdown.err());
  }
}
