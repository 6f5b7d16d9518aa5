package io.iqa.sidecar.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.testkit.RedisServer;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** cache.redis_url: two sidecars on one real Redis share scores; Redis going away breaks nothing. */
class SharedCacheTest {

  @TempDir
  Path dir;

  private record Sidecar(Vertx vertx, SidecarVerticle verticle, HttpClient http) {
    JsonObject infer(byte[] img) {
      return SidecarServiceTest.await(http.request(new RequestOptions().setMethod(HttpMethod.POST).setURI("/infer")
              .putHeader("Content-Type", "image/jpeg"))
          .compose(r -> r.send(Buffer.buffer(img)).compose(resp -> resp.body().map(b -> {
            if (resp.statusCode() != 200) {
              throw new AssertionError("/infer -> " + resp.statusCode() + " " + b);
            }
            return b.toJsonObject();
          }))));
    }

    long modelImages() {
      String text = SidecarServiceTest.await(http.request(HttpMethod.GET, "/metrics")
          .compose(r -> r.send().compose(resp -> resp.body().map(Buffer::toString))));
      Matcher m = Pattern.compile("iqa_model_images_total\\{model=\"tech_sharpness\"\\} ([0-9.]+)").matcher(text);
      return m.find() ? (long) Double.parseDouble(m.group(1)) : 0;
    }

    void close() {
      SidecarServiceTest.await(vertx.close());
    }
  }

  private Sidecar start(String redisUrl) {
    JsonObject config = new JsonObject().put("port", 0).put("device", "cpu")
        .put("models", new JsonArray().add(new JsonObject().put("name", "tech_sharpness").put("backend", "builtin")))
        .put("cache", new JsonObject().put("redis_url", redisUrl));
    Vertx vertx = Vertx.vertx();
    SidecarVerticle v = new SidecarVerticle(SidecarOptions.read(config), dir);
    SidecarServiceTest.await(vertx.deployVerticle(v));
    return new Sidecar(vertx, v, vertx.createHttpClient(new HttpClientOptions().setDefaultHost("127.0.0.1")
        .setDefaultPort(v.actualPort())));
  }

  @Test
  void aScoreComputedByOneSidecarIsServedByAnotherAndRedisDownIsOnlyAMiss() throws Exception {
    try (RedisServer redis = new RedisServer()) {
      Sidecar a = start(redis.url());
      Sidecar b = start(redis.url());
      try {
        byte[] img = SidecarServiceTest.jpeg(21);
        JsonObject first = a.infer(img);
        assertFalse(first.getBoolean("cached"));
        Thread.sleep(100); // the write to Redis is fire-and-forget
        JsonObject second = b.infer(img);
        assertTrue(second.getBoolean("cached"), "b should have the score from Redis: " + second);
        assertEquals(first.getJsonObject("scores"), second.getJsonObject("scores"));
        assertEquals(0, b.modelImages(), "b ran the model although Redis had the score");

        // Round 2 (read in the code): no timeout, so with Redis paused every cache miss joined a
        // lookup that never completed. Now a lookup past cache.redis_timeout_ms is a miss.
        redis.pause();
        try {
          long t0 = System.nanoTime();
          JsonObject whilePaused = a.infer(SidecarServiceTest.jpeg(23));
          long ms = (System.nanoTime() - t0) / 1_000_000;
          assertFalse(whilePaused.getBoolean("cached"));
          assertTrue(ms < 5000, "a miss with Redis paused took " + ms + " ms (timeout 500 ms)");
          assertEquals(2, a.modelImages());
        } finally {
          redis.resume();
        }
        redis.kill();
        JsonObject withoutRedis = a.infer(SidecarServiceTest.jpeg(22));
        assertFalse(withoutRedis.getBoolean("cached"));
        assertEquals(3, a.modelImages());
      } finally {
        a.close();
        b.close();
      }
    }
  }
}
