package io.iqa.sidecar.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.protocol.Sha256;
import io.iqa.sidecar.image.TestImages;
import io.iqa.sidecar.samples.SampleImages;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The sidecar over real HTTP on a free port, with the built-in models. */
class SidecarServiceTest {

  @TempDir
  Path dir;
  private Vertx vertx;
  private HttpClient http;
  private SidecarVerticle sidecar;

  record Reply(int status, Buffer body) {
    JsonObject json() {
      return body.toJsonObject();
    }
  }

  private void start(JsonObject extra) {
    JsonArray models = new JsonArray();
    for (String n : List.of("tech_sharpness", "tech_exposure", "tech_noise")) {
      models.add(new JsonObject().put("name", n).put("backend", "builtin"));
    }
    JsonObject config = new JsonObject().put("models", models).put("device", "cpu").put("port", 0).mergeIn(extra);
    vertx = Vertx.vertx();
    sidecar = new SidecarVerticle(SidecarOptions.read(config), dir);
    await(vertx.deployVerticle(sidecar));
    http = vertx.createHttpClient(new HttpClientOptions().setDefaultHost("127.0.0.1").setDefaultPort(sidecar.actualPort()),
        new PoolOptions().setHttp1MaxSize(32));
  }

  @AfterEach
  void stop() {
    if (vertx != null) {
      await(vertx.close());
    }
  }

  static <T> T await(Future<T> f) {
    try {
      return f.await(60, TimeUnit.SECONDS);
    } catch (java.util.concurrent.TimeoutException e) {
      throw new AssertionError("no answer within 60 s", e);
    }
  }

  Future<Reply> send(HttpMethod method, String uri, String contentType, byte[] body) {
    RequestOptions ro = new RequestOptions().setMethod(method).setURI(uri);
    if (contentType != null) {
      ro.putHeader("Content-Type", contentType);
    }
    return http.request(ro).compose(req -> (body == null ? req.send() : req.send(Buffer.buffer(body)))
        .compose(resp -> resp.body().map(b -> new Reply(resp.statusCode(), b))));
  }

  Reply infer(byte[] image) {
    return await(send(HttpMethod.POST, "/infer", "image/jpeg", image));
  }

  Reply get(String uri) {
    return await(send(HttpMethod.GET, uri, null, null));
  }

  static byte[] jpeg(int shift) throws Exception {
    return SampleImages.jpeg(SampleImages.perChannel(SampleImages.scene(128), v -> v + shift));
  }

  /** Images the model really scored, read from the Prometheus text. */
  long modelImages(String model) {
    Matcher m = Pattern.compile("iqa_model_images_total\\{model=\"" + model + "\"\\} ([0-9.]+)")
        .matcher(get("/metrics").body().toString());
    return m.find() ? (long) Double.parseDouble(m.group(1)) : 0;
  }

  @Test
  void theSecondRequestForTheSameBytesIsCachedAndRunsNoModel() throws Exception {
    start(new JsonObject());
    byte[] img = jpeg(0);
    Reply first = infer(img);
    assertEquals(200, first.status(), first.body().toString());
    JsonObject a = first.json();
    assertEquals(3, a.getJsonObject("scores").size());
    assertFalse(a.getBoolean("cached"));
    assertEquals("cpu", a.getString("device"));
    assertEquals(64, a.getString("sha256").length());
    assertEquals(1, modelImages("tech_sharpness"));

    JsonObject again = infer(img).json();
    assertTrue(again.getBoolean("cached"), "second request for the same bytes must be cached");
    assertEquals(a.getJsonObject("scores"), again.getJsonObject("scores"));
    assertEquals(1, modelImages("tech_sharpness"), "the cached answer ran the model again");

    JsonObject health = get("/health").json();
    assertEquals("ok", health.getString("status"));
    assertEquals(3, health.getJsonObject("cache").getLong("hits"));
    assertEquals(3, health.getJsonObject("cache").getLong("misses"));

    JsonObject noiseOnly = await(send(HttpMethod.POST, "/infer?models=tech_noise", "image/jpeg", jpeg(9))).json();
    assertEquals(List.of("tech_noise"), new ArrayList<>(noiseOnly.getJsonObject("scores").fieldNames()));
    Reply unknown = await(send(HttpMethod.POST, "/infer?models=nima", "image/jpeg", img));
    assertEquals(400, unknown.status());
    assertTrue(unknown.json().getString("message").contains("unknown model 'nima'"));
  }

  @Test
  void twentyConcurrentRequestsForOneNewImageRunEachModelOnce() throws Exception {
    start(new JsonObject());
    byte[] img = jpeg(17);
    List<Future<Reply>> replies = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      replies.add(send(HttpMethod.POST, "/infer", "image/jpeg", img));
    }
    for (Future<Reply> r : replies) {
      assertEquals(200, await(r).status());
    }
    assertEquals(1, modelImages("tech_sharpness"), "20 concurrent requests for one image ran the model more than once");
    assertEquals(1, modelImages("tech_noise"));
  }

  @Test
  void concurrentRequestsAreBatchedAndAQueueLimitGives503() throws Exception {
    start(new JsonObject().put("max_batch", 8).put("batching", new JsonObject().put("max_queue_delay_ms", 200)
        .put("queue_limit", 6)));
    List<Future<Reply>> replies = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      replies.add(send(HttpMethod.POST, "/infer?models=tech_sharpness", "image/jpeg", jpeg(i * 3)));
    }
    int ok = 0;
    int overloaded = 0;
    for (Future<Reply> r : replies) {
      Reply reply = await(r);
      if (reply.status() == 200) {
        ok++;
      } else {
        assertEquals(503, reply.status(), reply.body().toString());
        assertEquals("overloaded", reply.json().getString("error"));
        overloaded++;
      }
    }
    assertEquals(6, ok, "queue_limit 6 lets six in");
    assertEquals(2, overloaded);
    String metrics = get("/metrics").body().toString();
    Matcher max = Pattern.compile("iqa_model_batch_size_max\\{model=\"tech_sharpness\"\\} ([0-9.]+)").matcher(metrics);
    assertTrue(max.find() && Double.parseDouble(max.group(1)) > 1, "no batch held more than one image:\n" + metrics);
    // Where the six images' time went, stage by stage (what scripts/bench nima reports); a body
    // hashed while it was read has no hash stage.
    for (String stage : List.of("front_queue", "decode", "batch_wait", "model", "worker")) {
      Matcher count = Pattern.compile("iqa_infer_stage_seconds_count\\{stage=\"" + stage + "\"\\} ([0-9.]+)")
          .matcher(metrics);
      assertTrue(count.find() && Double.parseDouble(count.group(1)) >= 6, stage + " not timed for every image:\n"
          + metrics);
    }
  }

  @Test
  void badInputGetsItsFourHundredJsonErrorAndTheSidecarStaysUp() throws Exception {
    Path root = Files.createDirectories(dir.resolve("root"));
    Files.write(root.resolve("ok.jpg"), jpeg(3));
    Path outside = dir.resolve("secret.jpg");
    Files.write(outside, jpeg(4));
    Files.createSymbolicLink(root.resolve("link.jpg"), outside);
    start(new JsonObject().put("max_body_bytes", 200_000).put("allowed_roots", new JsonArray().add(root.toString())));

    byte[] good = TestImages.encode(SampleImages.scene(64), "png");
    for (var c : TestImages.malformedCorpus().entrySet()) {
      boolean tooBig = c.getValue()[1] == io.iqa.sidecar.image.ImageDecodeException.Kind.TOO_MANY_PIXELS;
      Reply r = await(send(HttpMethod.POST, "/infer", "application/octet-stream", (byte[]) c.getValue()[0]));
      assertEquals(tooBig ? 413 : 400, r.status(), c.getKey() + " -> " + r.body());
      assertEquals(tooBig ? "too_large" : "bad_image", r.json().getString("error"), c.getKey());
    }
    Reply oversize = await(send(HttpMethod.POST, "/infer", "application/octet-stream", new byte[300_000]));
    assertEquals(413, oversize.status(), "a body over max_body_bytes");
    assertEquals("too_large", oversize.json().getString("error"));
    Reply wrongType = await(send(HttpMethod.POST, "/infer", "text/plain", good));
    assertEquals(415, wrongType.status());
    assertEquals("unsupported_media_type", wrongType.json().getString("error"));

    assertEquals(200, pathInfer(root.resolve("ok.jpg").toString()).status());
    for (String escape : List.of(outside.toString(), root + "/../secret.jpg", root.resolve("link.jpg").toString())) {
      Reply r = pathInfer(escape);
      assertEquals(403, r.status(), escape + " -> " + r.body());
      assertEquals("forbidden", r.json().getString("error"));
    }
    assertEquals(404, pathInfer(root.resolve("missing.jpg").toString()).status());
    assertEquals(400, await(send(HttpMethod.POST, "/infer", "application/json", "{\"file\":1}".getBytes())).status());
    assertEquals(404, get("/nowhere").status());
    assertEquals(200, get("/health").status(), "the sidecar must still answer after bad input");
    assertEquals(200, infer(jpeg(5)).status());
  }

  private Reply pathInfer(String path) {
    return await(send(HttpMethod.POST, "/infer", "application/json",
        new JsonObject().put("path", path).encode().getBytes()));
  }

  @Test
  void releaseAndShutdownNeedTheAdminTokenWhenAuthIsConfigured() throws Exception {
    start(new JsonObject().put("auth", new JsonObject().put("admin_token_sha256",
        Sha256.hex("admin-secret".getBytes()))));
    java.util.concurrent.atomic.AtomicInteger exitCode = new java.util.concurrent.atomic.AtomicInteger(-1);
    sidecar.onExit(exitCode::set);
    assertEquals(401, await(send(HttpMethod.POST, "/shutdown", "application/json", null)).status());
    assertEquals(401, shutdownWith("guess").status());
    assertEquals(401, await(send(HttpMethod.POST, "/release", "application/json", null)).status());
    assertEquals(403, await(send(HttpMethod.POST, "/release", null, null)).status(),
        "a bare POST is what any web page can send: refused before auth is even asked");
    assertEquals("ok", get("/health").json().getString("status"), "a refused /shutdown must not stop anything");
    assertEquals("serving", get("/health").json().getString("state"), "nor a refused /release");
    Reply released = adminPost("/release", "admin-secret");
    assertEquals(200, released.status(), released.body().toString());
    assertEquals("idle", get("/health").json().getString("state"));
    assertEquals(202, shutdownWith("admin-secret").status());
    org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(20))
        .until(() -> exitCode.get() >= 0);
    assertEquals(0, exitCode.get(), "an authorised /shutdown ends with exit code 0");
  }

  private Reply shutdownWith(String bearer) {
    return adminPost("/shutdown", bearer);
  }

  private Reply adminPost(String path, String bearer) {
    RequestOptions ro = new RequestOptions().setMethod(HttpMethod.POST).setURI(path)
        .putHeader("Authorization", "Bearer " + bearer);
    return await(http.request(ro).compose(r -> r.send().compose(resp -> resp.body()
        .map(b -> new Reply(resp.statusCode(), b)))));
  }

  @Test
  void modelsAndHealthDescribeTheLoadedModels() {
    start(new JsonObject());
    JsonArray models = get("/v1/models").json().getJsonArray("models");
    assertEquals(3, models.size());
    JsonObject m = models.getJsonObject(0);
    assertEquals("tech_sharpness", m.getString("name"));
    assertEquals("onnxruntime", m.getString("backend"));
    assertEquals("cpu", m.getString("device"));
    assertTrue(m.getString("inputs").contains("[N,3,256,256]"), m.encode());
    assertEquals(16, m.getString("fingerprint").length());
    assertEquals(new JsonArray().add(0.0).add(100.0), m.getJsonArray("range"), "each model says its scale");
    assertEquals(true, m.getBoolean("higher_is_better"));
    assertTrue(m.getLong("warmup_ms") >= 0, "warmed up before serving: " + m.encode());
    JsonObject health = get("/health").json();
    assertEquals("cpu", health.getString("device"));
    assertEquals(3, health.getJsonArray("models").size());
  }

  @Test
  void brisqueIsInTheDefaultSetAndSaysLowerIsBetter() throws Exception {
    start(new JsonObject().put("models", io.iqa.sidecar.model.builtin.Builtins.entries()));
    JsonArray models = get("/v1/models").json().getJsonArray("models");
    JsonObject brisque = models.stream().map(JsonObject.class::cast)
        .filter(x -> x.getString("name").equals("brisque")).findFirst().orElseThrow();
    assertEquals("opencv", brisque.getString("backend"));
    assertEquals(false, brisque.getBoolean("higher_is_better"), brisque.encode());
    Reply r = await(send(HttpMethod.POST, "/infer", "image/jpeg", jpeg(3)));
    assertEquals(200, r.status(), r.body().toString());
    double score = r.json().getJsonObject("scores").getDouble("brisque");
    assertTrue(score > 0 && score < 150, r.body().toString());
    assertEquals(6, r.json().getJsonObject("scores").size(), "the default set: 5 technical measures and BRISQUE");
  }
}
