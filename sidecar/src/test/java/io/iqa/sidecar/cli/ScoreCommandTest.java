package io.iqa.sidecar.cli;

import io.iqa.broker.LocalBroker;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.client.Lease;
import io.iqa.client.LeaseClient;
import io.iqa.protocol.wire.LeaseRequest;
import io.iqa.sidecar.SidecarMain;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The one-shot command as the container fallback runs it: a separate JVM, JSON lines, exit codes. */
class ScoreCommandTest {

  @TempDir
  Path dir;

  private record Run(int exit, List<JsonObject> lines, String stderr) {
  }

  private Run score(String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"), SidecarMain.class.getName(), "score"));
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectError(dir.resolve("stderr.txt").toFile()).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(120, TimeUnit.SECONDS), "score did not finish");
    List<JsonObject> lines = new ArrayList<>();
    for (String line : out.split("\n")) {
      if (!line.isBlank()) {
        lines.add(new JsonObject(line));
      }
    }
    return new Run(p.exitValue(), lines, Files.readString(dir.resolve("stderr.txt")));
  }

  private Path image(String name, Color c, String format) throws Exception {
    BufferedImage img = new BufferedImage(120, 80, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = img.createGraphics();
    g.setColor(c);
    g.fillRect(0, 0, 120, 80);
    g.setColor(Color.BLACK);
    g.drawLine(0, 0, 119, 79);
    g.dispose();
    Path p = dir.resolve(name);
    ImageIO.write(img, format, p.toFile());
    return p;
  }

  private Path sized(String name, int w, int h) throws Exception {
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        img.setRGB(x, y, (x * 37 + y * 91) % 256 * 0x010101);
      }
    }
    Path p = dir.resolve(name);
    ImageIO.write(img, "png", p.toFile());
    return p;
  }

  /**
   * Round 2: a 1x1, 1x5000 or 50000x1 PNG made BRISQUE's OpenCV assert; the run exited 1 and printed
   * nothing, so every good image of it lost its scores too. Now each image has its own line.
   */
  @Test
  void imagesTooSmallOrTooThinForAModelGetTheirOwnLineAndTheOthersAreScored() throws Exception {
    Path good = image("good.png", new Color(200, 120, 40), "png");
    Path dot = sized("dot.png", 1, 1);
    Path tall = sized("tall.png", 1, 5000);
    Path wide = sized("wide.png", 50000, 1);
    Run run = score(dot.toString(), good.toString(), tall.toString(), wide.toString());
    assertEquals(1, run.exit(), run.stderr());
    assertEquals(4, run.lines().size(), "one line per image: " + run.lines() + "\n" + run.stderr());
    for (JsonObject line : run.lines()) {
      if (line.getString("path").equals(good.toString())) {
        assertTrue(line.getJsonObject("scores").containsKey("brisque"), line.encode());
      } else {
        assertEquals("too_small", line.getString("error"), line.encode());
        assertTrue(line.getString("message").contains("brisque") && line.getString("message").contains("2 pixels"),
            line.encode());
      }
    }
    Run techOnly = score("--models", "tech_sharpness,tech_noise", dot.toString(), tall.toString());
    assertEquals(0, techOnly.exit(), "the models that take any size score them: " + techOnly.lines());
  }

  /**
   * Images are read and decoded on a pool while the models run on the batch before (and the models of
   * a batch side by side): the lines still come in the order of the arguments, across three batches
   * of max_batch 8, with a missing file and a broken one among them, each image with its own scores.
   */
  @Test
  void manyImagesDecodedInParallelKeepTheirOrderAndTheirOwnScores() throws Exception {
    List<String> args = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      Path p = i == 7 ? dir.resolve("gone.jpg") : i == 12 ? Files.writeString(dir.resolve("broken.jpg"), "no jpeg")
          : image("img-" + i + ".jpg", new Color(10 * i, 255 - 10 * i, 100), "jpeg");
      args.add(p.toString());
    }
    Run run = score(args.toArray(String[]::new));
    assertEquals(1, run.exit(), run.stderr());
    assertEquals(20, run.lines().size(), run.stderr());
    Run alone = score(args.get(3));
    for (int i = 0; i < 20; i++) {
      JsonObject line = run.lines().get(i);
      assertEquals(args.get(i), line.getString("path"), "line " + i);
      if (i == 7) {
        assertEquals("not_found", line.getString("error"));
      } else if (i == 12) {
        assertEquals("bad_image", line.getString("error"));
      } else {
        assertEquals(6, line.getJsonObject("scores").size(), line.encode());
      }
    }
    assertEquals(alone.lines().get(0).getJsonObject("scores"), run.lines().get(3).getJsonObject("scores"),
        "the same image scores the same alone and in a parallel batch");
    assertTrue(!run.lines().get(4).getJsonObject("scores").equals(run.lines().get(3).getJsonObject("scores")),
        "each line has its own image's scores");
  }

  @Test
  void scoresEveryImageWithTheDefaultSetAndReportsBadOnesWithoutStopping() throws Exception {
    Path jpg = image("a.jpg", new Color(200, 120, 40), "jpeg");
    Path png = image("b.png", new Color(20, 90, 200), "png");
    Path text = dir.resolve("notes.txt");
    Files.writeString(text, "not an image");
    Run run = score(jpg.toString(), text.toString(), png.toString(), dir.resolve("missing.jpg").toString());

    assertEquals(1, run.exit(), "one image failed, so the exit code must say so; stderr: " + run.stderr());
    assertEquals(4, run.lines().size(), "one line per image: " + run.lines());
    JsonObject first = run.lines().stream().filter(l -> l.getString("path").equals(jpg.toString())).findFirst()
        .orElseThrow();
    assertEquals(64, first.getString("sha256").length());
    assertEquals("cpu", first.getString("device"));
    for (String model : List.of("tech_sharpness", "tech_exposure", "tech_contrast", "tech_colorfulness", "tech_noise")) {
      double v = first.getJsonObject("scores").getDouble(model);
      assertTrue(v >= 0 && v <= 100, model + " = " + v);
      assertTrue(first.getJsonObject("timings_ms").containsKey(model));
    }
    JsonObject bad = run.lines().stream().filter(l -> l.getString("path").equals(text.toString())).findFirst()
        .orElseThrow();
    assertEquals("bad_image", bad.getString("error"));
    JsonObject missing = run.lines().stream().filter(l -> l.getString("path").endsWith("missing.jpg")).findFirst()
        .orElseThrow();
    assertEquals("not_found", missing.getString("error"));

    Run good = score("--models", "tech_sharpness,tech_noise", jpg.toString(), png.toString());
    assertEquals(0, good.exit(), good.stderr());
    assertEquals(2, good.lines().get(1).getJsonObject("scores").size());
  }

  @Test
  void theRepositorysSampleImagesScoreAsTheirDegradationsSay() throws Exception {
    Path samples = Path.of("..", "samples").toAbsolutePath().normalize();
    List<String> names = List.of("scene", "scene-blurred", "scene-overexposed", "scene-noisy", "scene-flat", "scene-gray");
    List<String> args = new ArrayList<>();
    names.forEach(n -> args.add(samples.resolve(n + ".jpg").toString()));
    Run run = score(args.toArray(String[]::new));
    assertEquals(0, run.exit(), run.stderr());
    java.util.Map<String, JsonObject> byName = new java.util.HashMap<>();
    for (int i = 0; i < names.size(); i++) {
      assertTrue(run.lines().get(i).getString("path").endsWith(names.get(i) + ".jpg"), "answers out of order");
      byName.put(names.get(i), run.lines().get(i).getJsonObject("scores"));
    }
    JsonObject clean = byName.get("scene");
    assertLower(clean, byName.get("scene-blurred"), "tech_sharpness");
    assertLower(clean, byName.get("scene-overexposed"), "tech_exposure");
    assertLower(clean, byName.get("scene-noisy"), "tech_noise");
    assertLower(clean, byName.get("scene-flat"), "tech_contrast");
    assertLower(clean, byName.get("scene-gray"), "tech_colorfulness");
  }

  private static void assertLower(JsonObject clean, JsonObject worse, String score) {
    assertTrue(worse.getDouble(score) < clean.getDouble(score) - 5,
        score + ": " + clean.getDouble(score) + " -> " + worse.getDouble(score));
  }

  @Test
  void aBadConfigOrUnknownModelExitsWith2AndSaysWhy() throws Exception {
    Path conf = dir.resolve("sidecar.json");
    Files.writeString(conf, "{\"models\": [{\"name\": \"x\", \"backend\": \"onnxruntime\", \"file\": \"nope.onnx\"}]}");
    Path jpg = image("a.jpg", Color.GRAY, "jpeg");
    Run broken = score("--conf", conf.toString(), jpg.toString());
    assertEquals(2, broken.exit());
    assertTrue(broken.stderr().contains("nope.onnx does not exist"), broken.stderr());
    Run unknown = score("--models", "nima_aesthetic", jpg.toString());
    assertEquals(2, unknown.exit());
    assertTrue(unknown.stderr().contains("unknown model 'nima_aesthetic'"), unknown.stderr());
  }

  @Test
  void withABrokerAndACudaDeviceScoreHoldsALeaseWhileItRunsAndFallsBackToCpuWithoutOne() throws Exception {
    Vertx vertx = Vertx.vertx();
    try {
      String url = LocalBroker.start(vertx, 1);
      Path jpg = image("leased.jpg", new Color(200, 120, 40), "jpeg");
      JsonObject config = new JsonObject().put("device", "cuda:0")
          .put("models", new JsonArray().add(new JsonObject().put("name", "tech_sharpness")
              .put("backend", "builtin")))
          .put("broker", new JsonObject().put("url", url))
          .put("lease", new JsonObject().put("owner", "one-shot").put("wait_s", 1));
      Path conf = dir.resolve("leased.json");
      Files.writeString(conf, config.encode());

      Run leased = score("--conf", conf.toString(), jpg.toString());
      assertEquals(0, leased.exit(), leased.stderr());
      assertTrue(leased.stderr().contains("score: GPU lease"), leased.stderr());
      String events = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
          URI.create(url + "/v1/gpu/events")).build(), HttpResponse.BodyHandlers.ofString()).body();
      assertTrue(events.contains("\"granted\"") && events.contains("\"owner\":\"one-shot\"")
          && events.contains("\"released\""), "score must take and release a lease: " + events);

      try (LeaseClient other = new LeaseClient(url);
          Lease held = other.acquire(LeaseRequest.of("llm").withGpu(0))) {
        Run cpu = score("--conf", conf.toString(), jpg.toString());
        assertEquals(0, cpu.exit(), cpu.stderr());
        assertTrue(cpu.stderr().contains("no GPU lease") && cpu.stderr().contains("scoring on CPU"), cpu.stderr());
        assertEquals("cpu", cpu.lines().get(0).getString("device"));

        Files.writeString(conf, config.copy().put("lease", new JsonObject().put("required", true).put("wait_s", 1))
            .encode());
        Run refused = score("--conf", conf.toString(), jpg.toString());
        assertEquals(3, refused.exit(), "no lease and lease.required: exit 3; " + refused.stderr());
        assertTrue(refused.lines().isEmpty(), "nothing may be scored without the required lease");
      }
    } finally {
      vertx.close().await(30, TimeUnit.SECONDS);
    }
  }
}
