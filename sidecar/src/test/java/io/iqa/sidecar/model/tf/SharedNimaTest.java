package io.iqa.sidecar.model.tf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.iqa.sidecar.image.ImageDecoder;
import io.iqa.sidecar.model.ImageInput;
import io.iqa.sidecar.model.Score;
import io.iqa.sidecar.samples.SampleImages;
import io.iqa.sidecar.service.SidecarOptions;
import io.iqa.sidecar.service.SidecarVerticle;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The NIMA-size test model of {@code ../shared/models} (idealo's real MobileNet NIMA export graph
 * with untrained weights, see its README): it loads, scores within 1..10, a batch of 8 equals 8
 * single calls, and the sidecar serves it. Skipped when the shared models are not there.
 */
class SharedNimaTest {

  @TempDir
  Path dir;

  /** {@code ../shared/models/nima-mobilenet-random} from the project root (the tests run in sidecar/). */
  static Path nima() {
    for (Path p : List.of(Path.of("..", "..", "shared", "models", "nima-mobilenet-random"),
        Path.of("..", "shared", "models", "nima-mobilenet-random"))) {
      if (Files.isRegularFile(p.resolve("saved_model.pb"))) {
        return p.toAbsolutePath().normalize();
      }
    }
    return null;
  }

  private static List<ImageInput> photos(int n) throws Exception {
    ImageDecoder decoder = new ImageDecoder();
    List<ImageInput> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      int shift = i * 25 - 90;
      ByteArrayOutputStream jpeg = new ByteArrayOutputStream();
      ImageIO.write(SampleImages.perChannel(SampleImages.scene(300 + 40 * i), v -> v + shift), "jpeg", jpeg);
      out.add(ImageInput.lazy(jpeg.toByteArray(), decoder, io.iqa.sidecar.image.Need.ofInput(224, 224)));
    }
    return out;
  }

  @Test
  void loadsScoresWithinOneToTenAndABatchOfEightEqualsSingleCalls() throws Exception {
    Path export = nima();
    assumeTrue(export != null, "../shared/models/nima-mobilenet-random is not here");
    List<ImageInput> images = photos(8);
    try (TfModel model = new TfModel(TfModelSpec.of("nima_aesthetic", TfModelSpec.Kind.NIMA, export))) {
      assertEquals(1.0, model.scale().min());
      assertEquals(10.0, model.scale().max());
      List<Score> batch = model.score(images);
      assertEquals(8, batch.size());
      for (int i = 0; i < 8; i++) {
        Score single = model.score(List.of(images.get(i))).get(0);
        assertTrue(batch.get(i).value() >= 1 && batch.get(i).value() <= 10, "NIMA scores lie in 1..10: " + batch.get(i));
        assertEquals(single.value(), batch.get(i).value(), 1e-5, "image " + i + ": batch of 8 vs alone");
        assertEquals(single.std(), batch.get(i).std(), 1e-5);
      }
      assertTrue(batch.stream().map(Score::value).distinct().count() > 1, "different images, different scores");
    } finally {
      images.forEach(ImageInput::close);
    }
  }

  @Test
  void theSidecarServesItAndSaysItsScale() throws Exception {
    Path export = nima();
    assumeTrue(export != null, "../shared/models/nima-mobilenet-random is not here");
    Vertx vertx = Vertx.vertx();
    try {
      SidecarVerticle sidecar = new SidecarVerticle(SidecarOptions.read(new JsonObject().put("port", 0)
          .put("device", "cpu").put("models", new JsonArray().add(new JsonObject().put("name", "nima_aesthetic")
              .put("backend", "tensorflow").put("kind", "nima").put("dir", export.toString())))), dir);
      vertx.deployVerticle(sidecar).await(120, TimeUnit.SECONDS);
      String base = "http://127.0.0.1:" + sidecar.actualPort();
      HttpClient http = HttpClient.newHttpClient();
      ByteArrayOutputStream jpeg = new ByteArrayOutputStream();
      ImageIO.write(SampleImages.scene(640), "jpeg", jpeg);
      HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + "/infer"))
          .header("Content-Type", "image/jpeg").POST(HttpRequest.BodyPublishers.ofByteArray(jpeg.toByteArray()))
          .build(), HttpResponse.BodyHandlers.ofString());
      assertEquals(200, r.statusCode(), r.body());
      double score = new JsonObject(r.body()).getJsonObject("scores").getDouble("nima_aesthetic");
      assertTrue(score >= 1 && score <= 10, r.body());
      JsonObject model = new JsonObject(http.send(HttpRequest.newBuilder(URI.create(base + "/v1/models")).build(),
          HttpResponse.BodyHandlers.ofString()).body()).getJsonArray("models").getJsonObject(0);
      assertEquals(new JsonArray().add(1.0).add(10.0), model.getJsonArray("range"), model.encode());
      assertEquals(true, model.getBoolean("higher_is_better"));
      assertTrue(model.getLong("warmup_ms") >= 0, model.encode());
    } finally {
      vertx.close().await(60, TimeUnit.SECONDS);
    }
  }
}
