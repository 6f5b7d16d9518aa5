package io.iqa.sidecar.service;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** How a sidecar gives its lease back: shutdown, POST /release, SIGTERM, idle shutdown, kill -9, no lease. */
class SidecarStopTest extends SidecarLeaseFixture {

  @Test
  void shutdownDuringSixteenRequestsLetsThemFinishThenReleasesAndExitsZero() throws Exception {
    SidecarProcess s = sidecar(new JsonObject().put("max_batch", 32)
        .put("batching", new JsonObject().put("max_queue_delay_ms", 800)));
    List<CompletableFuture<HttpResponse<String>>> inFlight = new ArrayList<>();
    for (int i = 0; i < 16; i++) {
      inFlight.add(s.inferAsync(SidecarServiceTest.jpeg(i * 2)));
    }
    await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(10))
        .until(() -> s.health().getInteger("in_flight") >= 16);
    HttpResponse<String> accepted = s.post("/shutdown");
    assertEquals(202, accepted.statusCode(), accepted.body());
    assertEquals(503, s.inferAsync(SidecarServiceTest.jpeg(99)).get(30, TimeUnit.SECONDS).statusCode(),
        "new work after /shutdown must be refused");
    for (CompletableFuture<HttpResponse<String>> f : inFlight) {
      HttpResponse<String> r = f.get(30, TimeUnit.SECONDS);
      assertEquals(200, r.statusCode(), "an in-flight request was cut off: " + r.body());
    }
    assertEquals(0, s.awaitExit(30), s.log());
    assertEquals(0, leases().size(), "the lease must be released on shutdown");
  }

  @Test
  void postReleaseFreesTheGpuAndKeepsServingCacheHits() throws Exception {
    SidecarProcess s = sidecar(new JsonObject());
    byte[] a = SidecarServiceTest.jpeg(6);
    assertEquals(200, s.inferAsync(a).get(30, TimeUnit.SECONDS).statusCode());
    long worker = s.health().getJsonObject("worker").getLong("pid");
    HttpResponse<String> released = s.post("/release");
    assertEquals(200, released.statusCode(), released.body());
    assertEquals("idle", new JsonObject(released.body()).getString("state"), released.body());
    assertEquals(0, leases().size());
    assertFalse(alive(worker));
    HttpResponse<String> hit = s.inferAsync(a).get(30, TimeUnit.SECONDS);
    assertTrue(new JsonObject(hit.body()).getBoolean("cached"), hit.body());
    assertEquals(0, leases().size(), "a cache hit needs no GPU");
  }

  @Test
  void sigtermDrainsStopsTheWorkerAndReleasesTheLease() throws Exception {
    SidecarProcess s = sidecar(new JsonObject());
    assertEquals(1, leases().size());
    long worker = s.health().getJsonObject("worker").getLong("pid");
    s.process.destroy(); // SIGTERM
    s.awaitExit(30);
    assertEquals(0, leases().size(), "SIGTERM must release the lease\n" + s.log());
    assertFalse(alive(worker));
    assertTrue(s.log().contains("shutting down: SIGTERM"), s.log());
  }

  @Test
  void idleShutdownStopsTheSidecarAndReleasesItsLease() throws Exception {
    SidecarProcess s = sidecar(new JsonObject().put("idle_shutdown_s", 1));
    assertEquals(0, s.awaitExit(20), s.log());
    assertEquals(0, leases().size());
    assertTrue(s.log().contains("idle_shutdown_s=1"), s.log());
  }

  @Test
  void killingTheFrontKillsItsWorkerAndTheBrokerReleasesTheLeaseAsHolderExited() throws Exception {
    SidecarProcess s = sidecar(new JsonObject().put("lease", new JsonObject().put("ttl_s", 600)));
    assertEquals(1, leases().size());
    long worker = s.health().getJsonObject("worker").getLong("pid");
    s.process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(100))
        .until(() -> leases().isEmpty() && !alive(worker));
    assertFalse(alive(worker), "the worker must die with its front (parent-death signal)");
    assertEquals(0, leases().size(), "the dead sidecar's lease is still held");
    assertEquals(1, events("holder_exited").size());
  }

  @Test
  void withoutALeaseARequiringSidecarStaysIdleAndSaysWhyAndAnOptionalOneScoresOnCpu() throws Exception {
    JsonObject unreachable = new JsonObject().put("broker", new JsonObject().put("url", "http://127.0.0.1:1"))
        .put("lease", new JsonObject().put("wait_s", 0.5));
    SidecarProcess strict = sidecar(unreachable);
    JsonObject health = strict.health();
    assertEquals("idle", health.getString("state"), health.encode());
    assertTrue(health.getString("state_reason").contains("127.0.0.1:1"), health.encode());
    HttpResponse<String> refused = strict.inferAsync(SidecarServiceTest.jpeg(8)).get(30, TimeUnit.SECONDS);
    assertEquals(503, refused.statusCode(), refused.body());
    assertEquals("gpu_unavailable", new JsonObject(refused.body()).getString("error"));
    assertEquals("5", refused.headers().firstValue("Retry-After").orElse(null));

    // A model that asks for a GPU (device cuda:0) needs a lease; without one it may run on CPU.
    SidecarProcess relaxed = sidecar(unreachable.copy().put("device", "cuda:0")
        .put("lease", new JsonObject().put("required", false)));
    JsonObject cpu = relaxed.health();
    assertEquals("serving", cpu.getString("state"), cpu.encode());
    assertEquals("cpu", cpu.getString("device"));
    assertTrue(String.valueOf(cpu.getJsonObject("lease").getString("reason")).contains("unreachable"),
        cpu.encode() + "\n" + relaxed.log());
    assertEquals(200, relaxed.inferAsync(SidecarServiceTest.jpeg(8)).get(30, TimeUnit.SECONDS).statusCode());
  }

  @Test
  void aSidecarWhoseModelsAllRunOnCpuTakesNoLease() throws Exception {
    SidecarProcess s = sidecar(new JsonObject().put("device", "cpu")
        .put("lease", new JsonObject().put("required", false)));
    JsonObject health = s.health();
    assertTrue(health.getString("gpu_lease").startsWith("not needed"), health.encode());
    assertEquals("none", health.getJsonObject("lease").getString("state"));
    assertEquals(200, s.inferAsync(SidecarServiceTest.jpeg(9)).get(30, TimeUnit.SECONDS).statusCode());
    assertTrue(events("granted").isEmpty(), "CPU work takes no GPU lease");
    assertTrue(environ(health.getJsonObject("worker").getLong("pid")).contains("\nCUDA_VISIBLE_DEVICES=\n"));
  }
}
