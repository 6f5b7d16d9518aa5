package io.iqa.broker;

import io.iqa.testkit.RedisServer;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.broker.TestBroker.Reply;
import io.vertx.core.Future;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Two brokers on one Redis act as one: cross-broker wake-ups, fleet-wide status and events. */
class RedisFleetTest {

  @Test
  void aReleaseThroughOneBrokerWakesAWaiterOnAnotherAndBothShowTheWholeFleet() throws Exception {
    try (RedisServer redis = new RedisServer()) {
      JsonObject config = new JsonObject()
          .put("gpus", new JsonArray().add(new JsonObject().put("index", 0).put("vram_mb", 0)))
          .put("reaper_interval_ms", 60_000) // no reaper pass during the test: wake-ups must come over pub/sub
          .put("store", new JsonObject().put("type", "redis").put("url", redis.url()).put("key_prefix", "fleet:"));
      try (TestBroker a = new TestBroker(config); TestBroker b = new TestBroker(config)) {
        StringBuffer streamOnB = new StringBuffer();
        TestBroker.await(b.http.request(new RequestOptions().setMethod(HttpMethod.GET).setURI("/v1/gpu/events")
                .putHeader("Accept", "text/event-stream"))
            .compose(req -> req.send().onSuccess(resp -> resp.handler(buf -> streamOnB.append(buf.toString())))));

        JsonObject held = a.lease(new JsonObject().put("owner", "on-a").put("gpu", 0));
        JsonObject seenFromB = b.get("/v1/gpu/status").json().getJsonArray("gpus").getJsonObject(0)
            .getJsonArray("leases").getJsonObject(0);
        assertEquals(held.getLong("lease_id"), seenFromB.getLong("lease_id"), "b does not see a's lease");

        Future<Reply> waiter = b.postAsync("/v1/gpu/lease", new JsonObject().put("owner", "on-b").put("gpu", 0)
            .put("wait_s", 20));
        a.awaitWaiting(1);
        long released = System.nanoTime();
        a.post("/v1/gpu/release", new JsonObject().put("token", held.getString("token")));
        Reply granted = TestBroker.await(waiter);
        long handoffMs = (System.nanoTime() - released) / 1_000_000;
        assertEquals(200, granted.status(), granted.toString());
        assertTrue(handoffMs < 2000, "cross-broker hand-off took " + handoffMs + " ms");

        List<String> typesOnA = a.get("/v1/gpu/events").json().getJsonArray("events").stream()
            .map(e -> ((JsonObject) e).getString("owner") + ":" + ((JsonObject) e).getString("type")).toList();
        assertEquals(List.of("on-a:granted", "on-a:released", "on-b:granted"), typesOnA);
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (!streamOnB.toString().contains("event: released") && System.nanoTime() < deadline) {
          TestBroker.sleep(20);
        }
        assertTrue(streamOnB.toString().contains("\"owner\":\"on-a\"") && streamOnB.toString().contains("event: released"),
            "b's event stream lacks a's events: " + streamOnB);
        // Metrics count what each broker did itself: a's release is not counted again by b.
        assertTrue(a.get("/metrics").body().toString().contains("gpu_lease_ends_total{reason=\"released\"} 1.0"));
        assertTrue(!b.get("/metrics").body().toString().contains("gpu_lease_ends_total{reason=\"released\"}"),
            "b counted a's release");
      }
    }
  }
}
