package io.iqa.broker;

import io.iqa.testkit.HostilePage;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.testkit.HostilePage.Attempt;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Round 2's first finding, replayed in a real browser: with auth off (the default), a page of any
 * origin that a user opens on the GPU host posted text/plain JSON to {@code force_release} without
 * a CORS preflight and revoked a lease ({@code "immediate": true}), and could take leases. Now
 * none of its requests acts; the operator page, the broker's own origin, still can
 * (OperatorPageTest).
 */
class BrowserAttackTest {

  private TestBroker broker;

  @AfterEach
  void stop() {
    if (broker != null) {
      broker.close();
    }
  }

  @Test
  void aPageOfAnotherOriginCannotForceReleaseOrLease() throws Exception {
    broker = new TestBroker(new JsonObject()
        .put("gpus", new JsonArray().add(new JsonObject().put("index", 0).put("vram_mb", 0))));
    JsonObject victim = broker.lease(new JsonObject().put("owner", "llm-server").put("ttl_s", 120));
    String b = "http://127.0.0.1:" + broker.port;
    String revoke = new JsonObject().put("owner", "llm-server").put("immediate", true).put("reason", "pwned").encode();
    String take = new JsonObject().put("owner", "evil").put("wait_s", 0).encode();
    try (HostilePage page = new HostilePage()) {
      List<String> log = page.fire(List.of(
          new Attempt("force_release as text/plain", b + "/v1/gpu/force_release", "text/plain", revoke),
          new Attempt("force_release as a form", b + "/v1/gpu/force_release", "application/x-www-form-urlencoded",
              revoke),
          new Attempt("force_release with no type", b + "/v1/gpu/force_release", null, revoke),
          new Attempt("lease as text/plain", b + "/v1/gpu/lease", "text/plain", take),
          new Attempt("release with no body", b + "/v1/gpu/release", null, null)),
          new Attempt("force_release as JSON (needs a preflight)", b + "/v1/gpu/force_release", null, revoke));
      assertEquals(6, log.size(), "the page ran every attempt: " + log);
      assertTrue(log.get(5).contains("blocked"), "the preflight must fail, so the JSON request is never sent: " + log);
    }
    JsonObject gpu = broker.get("/v1/gpu/status").json().getJsonArray("gpus").getJsonObject(0);
    assertEquals(1, gpu.getJsonArray("leases").size(), gpu.encode());
    JsonObject lease = gpu.getJsonArray("leases").getJsonObject(0);
    assertEquals(victim.getLong("lease_id"), lease.getLong("lease_id"));
    assertEquals("held", lease.getString("state"), "the page revoked the lease: " + lease.encode());
    JsonArray events = broker.get("/v1/gpu/events").json().getJsonArray("events");
    assertFalse(events.encode().contains("force_released") || events.encode().contains("\"evil\""),
        "the page acted on the broker: " + events.encode());
  }
}
