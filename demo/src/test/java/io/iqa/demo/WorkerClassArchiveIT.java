package io.iqa.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.protocol.ListeningLine;
import io.iqa.sidecar.samples.SampleImages;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The worker's class archive with the built jar, as a user's sidecar makes it: after its first idle
 * spell a training worker makes it; a request that comes while it trains is answered at once (the
 * training is killed, and made again at the next idle spell); the next cold start maps it; a broken
 * archive file costs nothing but the gain.
 */
class WorkerClassArchiveIT {

  private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
  private static final Path JAR = ROOT.resolve("sidecar/target/iqa-sidecar.jar");
  private static final HttpClient HTTP = HttpClient.newHttpClient();

  @TempDir
  Path dir;

  private int seq;

  private record Sidecar(Process process, String url, Path log) implements AutoCloseable {
    @Override
    public void close() throws Exception {
      process.destroy();
      process.waitFor(30, TimeUnit.SECONDS);
    }
  }

  private Sidecar start() throws Exception {
    Path conf = dir.resolve("sidecar.json");
    Files.writeString(conf, new JsonObject().put("port", 0).put("idle_release_s", 1)
        .put("models", new JsonArray().add(new JsonObject().put("name", "tech_sharpness").put("backend", "builtin")))
        .encode());
    Path log = dir.resolve("sidecar-" + System.nanoTime() + ".log");
    ProcessBuilder pb = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-jar",
        JAR.toString(), "serve", "--conf", conf.toString()).redirectError(log.toFile());
    pb.environment().put("XDG_CACHE_HOME", dir.resolve("cache").toString());
    Process p = pb.start();
    BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
    for (String line = out.readLine(); line != null; line = out.readLine()) {
      String url = ListeningLine.url(line);
      if (url != null) {
        return new Sidecar(p, url, log);
      }
    }
    throw new IOException("the sidecar did not start: " + Files.readString(log));
  }

  private int infer(Sidecar s) throws Exception {
    int shift = seq++ % 100 - 50;
    byte[] jpeg = SampleImages.jpeg(SampleImages.perChannel(SampleImages.scene(256), v -> v + shift));
    return HTTP.send(HttpRequest.newBuilder(URI.create(s.url() + "/infer")).header("Content-Type", "image/jpeg")
        .POST(HttpRequest.BodyPublishers.ofByteArray(jpeg)).build(), HttpResponse.BodyHandlers.ofString()).statusCode();
  }

  private static JsonObject await(Sidecar s, String what, Predicate<JsonObject> test) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
    while (true) {
      JsonObject h = new JsonObject(HTTP.send(HttpRequest.newBuilder(URI.create(s.url() + "/health")).build(),
          HttpResponse.BodyHandlers.ofString()).body());
      if (test.test(h)) {
        return h;
      }
      assertTrue(System.nanoTime() < deadline, "never " + what + ": " + h + "\n" + Files.readString(s.log()));
      Thread.sleep(20);
    }
  }

  private static void awaitLog(Sidecar s, String text) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (!Files.readString(s.log()).contains(text)) {
      assertTrue(System.nanoTime() < deadline, "no '" + text + "' in the log:\n" + Files.readString(s.log()));
      Thread.sleep(50);
    }
  }

  private static String archiveState(JsonObject health) {
    return health.getJsonObject("worker").getJsonObject("class_archive").getString("state");
  }

  @Test
  void madeWhileIdleKilledByARequestMappedByTheNextWorkerHarmlessWhenBroken() throws Exception {
    Path archive;
    try (Sidecar s = start()) {
      assertEquals(200, infer(s));
      await(s, "training", h -> archiveState(h).equals("making"));
      // A request while the training worker runs: answered by a real worker, the training given up.
      assertEquals(200, infer(s));
      awaitLog(s, "class archive was not made (a worker started or the sidecar stops)");
      JsonObject ready = await(s, "a class archive", h -> archiveState(h).equals("ready"));
      archive = Path.of(ready.getJsonObject("worker").getJsonObject("class_archive").getString("file"));
      assertTrue(Files.size(archive) > 1 << 20, "an archive of the worker's classes: " + Files.size(archive));
      assertTrue(archive.startsWith(dir.resolve("cache/iqa/class-archives")), archive.toString());
      await(s, "idle", h -> h.getString("state").equals("idle"));
      assertEquals(200, infer(s));
      List<String> starts = Files.readAllLines(s.log()).stream()
          .filter(l -> l.contains(" ready ") && l.contains("after its launch") && !l.contains("training")).toList();
      assertTrue(starts.get(starts.size() - 1).contains("(from the class archive)"), String.join("\n", starts));
    }
    Files.writeString(archive, "not an archive");
    try (Sidecar s = start()) {
      assertEquals("ready", archiveState(await(s, "started", h -> h.getBoolean("started", false))));
      assertEquals(200, infer(s), "a broken archive: the JVM starts without it");
      await(s, "idle", h -> h.getString("state").equals("idle"));
      assertEquals(200, infer(s));
    }
  }
}
