package io.iqa.sidecar.service;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.sidecar.samples.SampleImages;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The lease lifecycle end to end: granted before the worker starts, idle release, revocation. */
class SidecarLeaseTest extends SidecarLeaseFixture {

  @Test
  void theLeaseIsGrantedBeforeTheWorkerStartsAndTheWorkerSeesOnlyTheLeasedGpu() throws Exception {
    SidecarProcess s = sidecar(new JsonObject());
    JsonArray leases = leases();
    assertEquals(1, leases.size(), leases.encode());
    long leaseId = leases.getJsonObject(0).getLong("lease_id");
    assertEquals("iqa-sidecar-test", leases.getJsonObject(0).getString("owner"));
    assertEquals(s.process.pid(), leases.getJsonObject(0).getLong("pid"), "the lease names the front's pid");
    String log = s.log();
    int granted = log.indexOf("lease " + leaseId + " granted");
    int started = log.indexOf("worker started");
    assertTrue(granted >= 0 && started > granted, "the lease must come before the worker:\n" + log);
    JsonObject health = s.health();
    assertEquals("serving", health.getString("state"), health.encode());
    assertEquals("held", health.getJsonObject("lease").getString("state"));
    assertFalse(health.encode().contains("token"), "health must not show the lease token: " + health);
    long worker = health.getJsonObject("worker").getLong("pid");
    assertTrue(s.process.descendants().anyMatch(h -> h.pid() == worker), "the worker is the front's child");
    String env = environ(worker);
    assertTrue(env.contains("\nCUDA_VISIBLE_DEVICES=0\n") && env.contains("\nGPU_LEASE_ID=" + leaseId + "\n")
        && env.contains("\nCUDA_DEVICE_ORDER=PCI_BUS_ID\n"), "the worker sees the leased gpu only:\n" + env);
    assertEquals(200, s.inferAsync(SidecarServiceTest.jpeg(1)).get(30, TimeUnit.SECONDS).statusCode());
  }

  /**
   * Round 3: an idle sidecar that never loaded listed names and "loaded": false only, so a client
   * labelling columns got nothing in the most common state; /health said "ok" while loading, with
   * no way for a probe to tell "up" from "started".
   */
  @Test
  void anIdleSidecarThatNeverLoadedShowsEveryModelsScaleAndAProbeTellsStartedFromWarm() throws Exception {
    try (io.iqa.client.LeaseClient other = new io.iqa.client.LeaseClient(brokerUrl);
        io.iqa.client.Lease llm = other.acquire(io.iqa.protocol.wire.LeaseRequest.of("llm").withGpu(0))) {
      SidecarProcess s = sidecar(new JsonObject().put("models", new JsonArray()
          .add(new JsonObject().put("name", "tech_sharpness").put("backend", "builtin"))
          .add(new JsonObject().put("name", "brisque").put("backend", "builtin"))
          .add(new JsonObject().put("name", "stated").put("backend", "builtin").put("model", "tech_noise")
              .put("range", new JsonArray().add(0).add(10)).put("higher_is_better", false))));
      JsonObject idle = awaitHealth(s, h -> "idle".equals(h.getString("state")));
      assertTrue(idle.getBoolean("started"), idle.encode());
      assertFalse(idle.getBoolean("ready"), "idle: the next image is a cold start " + idle.encode());
      HttpResponse<String> probe = SidecarProcess.HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
          + s.port + "/health/ready")).build(), HttpResponse.BodyHandlers.ofString());
      assertEquals(200, probe.statusCode(), "an idle sidecar is ready for traffic: " + probe.body());

      JsonObject models = new JsonObject(SidecarProcess.HTTP.send(HttpRequest.newBuilder(URI.create(
          "http://127.0.0.1:" + s.port + "/v1/models")).build(), HttpResponse.BodyHandlers.ofString()).body());
      java.util.Map<String, JsonObject> byName = new java.util.HashMap<>();
      models.getJsonArray("models").forEach(m -> byName.put(((JsonObject) m).getString("name"), (JsonObject) m));
      assertEquals(3, byName.size(), models.encode());
      for (JsonObject m : byName.values()) {
        assertFalse(m.getBoolean("loaded"), m.encode());
        assertEquals("builtin", m.getString("backend"), m.encode());
        assertTrue(m.containsKey("device") && m.containsKey("range") && m.containsKey("higher_is_better"), m.encode());
      }
      assertEquals(new JsonArray().add(0.0).add(100.0), byName.get("tech_sharpness").getJsonArray("range"));
      assertTrue(byName.get("tech_sharpness").getBoolean("higher_is_better"));
      assertFalse(byName.get("brisque").getBoolean("higher_is_better"), "BRISQUE: lower is better");
      assertEquals("cpu", byName.get("brisque").getString("device"), "BRISQUE runs on CPU");
      assertEquals(new JsonArray().add(0.0).add(10.0), byName.get("stated").getJsonArray("range"));
      assertFalse(byName.get("stated").getBoolean("higher_is_better"));

      llm.close();
      assertEquals(200, s.inferAsync(SidecarServiceTest.jpeg(2)).get(60, TimeUnit.SECONDS).statusCode());
      JsonObject serving = s.health();
      assertTrue(serving.getBoolean("ready"), "serving: no cold start " + serving.encode());
    }
  }

  @Test
  void afterIdleReleaseSTheGpuIsFreeCacheHitsNeedNoLeaseAndANewImageTakesItBack() throws Exception {
    SidecarProcess s = sidecar(new JsonObject().put("idle_release_s", 1));
    byte[] a = SidecarServiceTest.jpeg(3);
    assertEquals(200, s.inferAsync(a).get(30, TimeUnit.SECONDS).statusCode());
    long firstWorker = s.health().getJsonObject("worker").getLong("pid");

    JsonObject idle = awaitHealth(s, h -> "idle".equals(h.getString("state")));
    assertEquals("ok", idle.getString("status"), idle.encode());
    assertTrue(idle.getString("state_reason").contains("idle_release_s=1"), idle.encode());
    assertEquals("stopped", idle.getJsonObject("worker").getString("state"));
    assertEquals("released", idle.getJsonObject("lease").getString("state"));
    assertEquals(0, leases().size(), "an idle sidecar holds no lease");
    assertFalse(alive(firstWorker), "the worker process (and with it all its GPU memory) is gone");
    assertEquals("idle", events("released").get(0).getString("reason"));

    HttpResponse<String> hit = s.inferAsync(a).get(30, TimeUnit.SECONDS);
    assertEquals(200, hit.statusCode(), hit.body());
    assertTrue(new JsonObject(hit.body()).getBoolean("cached"), hit.body());
    assertEquals(1, events("granted").size(), "a cache hit must not take the GPU\n" + s.log());
    assertEquals("idle", s.health().getString("state"));

    long t0 = System.nanoTime();
    HttpResponse<String> miss = s.inferAsync(SidecarServiceTest.jpeg(4)).get(60, TimeUnit.SECONDS);
    long coldMs = (System.nanoTime() - t0) / 1_000_000;
    assertEquals(200, miss.statusCode(), miss.body());
    assertFalse(new JsonObject(miss.body()).getBoolean("cached"));
    assertEquals(2, events("granted").size(), "a new image takes the lease again");
    JsonObject serving = s.health();
    assertEquals("serving", serving.getString("state"), serving.encode());
    assertNotEquals(firstWorker, serving.getJsonObject("worker").getLong("pid"), "a new worker serves it");
    System.out.println("cold start on demand (lease + worker + models + answer): " + coldMs + " ms");
  }

  @Test
  void withOnLeaseLostExitAForceReleaseStopsTheWorkerReleasesAndExits3() throws Exception {
    SidecarProcess s = sidecar(new JsonObject().put("on_lease_lost", "exit"));
    long worker = s.health().getJsonObject("worker").getLong("pid");
    forceRelease();
    assertEquals(3, s.awaitExit(15), "a sidecar whose lease was taken away exits with 3\n" + s.log());
    assertFalse(alive(worker));
    assertTrue(s.log().contains("revoked (force_released"), s.log());
    assertTrue(s.log().contains("confirming that the sidecar stopped using the GPU"), s.log());
    assertEquals(1, events("revoke_confirmed").size());
  }

  @Test
  void byDefaultARevokedSidecarStopsItsWorkerConfirmsStaysUpAndLeasesAgainForTheNextMiss() throws Exception {
    SidecarProcess s = sidecar(new JsonObject());
    long worker = s.health().getJsonObject("worker").getLong("pid");
    forceRelease();
    JsonObject idle = awaitHealth(s, h -> "idle".equals(h.getString("state")));
    assertTrue(idle.getString("state_reason").contains("revoked"), idle.encode());
    assertFalse(alive(worker), "the worker is stopped before the release confirms the revocation");
    assertEquals(1, events("revoke_confirmed").size(), "the release confirms: the GPU is handed on at once");
    HttpResponse<String> r = s.inferAsync(SidecarServiceTest.jpeg(5)).get(60, TimeUnit.SECONDS);
    assertEquals(200, r.statusCode(), r.body());
    assertEquals(2, events("granted").size());
    assertTrue(s.process.isAlive());
  }

  @Test
  void afterAForceReleaseTheWaiterIsGrantedOnlyAfterTheSidecarsLastAnswerFromTheLeasedModel() throws Exception {
    // ttl 30 s: a renew comes every 10 s, so hearing of the revocation within 1 s proves the watch channel.
    SidecarProcess s = sidecar(new JsonObject().put("on_lease_lost", "exit")
        .put("lease", new JsonObject().put("ttl_s", 30))
        .put("batching", new JsonObject().put("max_queue_delay_ms", 20)));
    java.util.concurrent.atomic.AtomicLong last200 = new java.util.concurrent.atomic.AtomicLong();
    java.util.concurrent.atomic.AtomicLong first503 = new java.util.concurrent.atomic.AtomicLong();
    java.util.concurrent.atomic.AtomicInteger answers = new java.util.concurrent.atomic.AtomicInteger();
    java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
    List<Thread> clients = new ArrayList<>();
    for (int c = 0; c < 3; c++) {
      int client = c;
      Thread t = new Thread(() -> {
        for (int i = 0; !stop.get(); i++) {
          try {
            HttpResponse<String> r = s.inferAsync(image(client * 100_000 + i)).get(30, TimeUnit.SECONDS);
            long now = System.nanoTime();
            if (r.statusCode() == 200 && !new JsonObject(r.body()).getBoolean("cached")) {
              last200.accumulateAndGet(now, Math::max);
              answers.incrementAndGet();
            } else if (r.statusCode() == 503 && r.body().contains("lease_lost")) {
              first503.compareAndSet(0, now);
            }
          } catch (Exception e) {
            return; // the sidecar has exited
          }
        }
      }, "infer-" + c);
      t.start();
      clients.add(t);
    }
    await().atMost(Duration.ofSeconds(60)).until(() -> answers.get() >= 20);
    CompletableFuture<HttpResponse<String>> waiter = SidecarProcess.HTTP.sendAsync(
        HttpRequest.newBuilder(URI.create(brokerUrl + "/v1/gpu/lease")).header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(
            "{\"owner\":\"llm-server\",\"gpu\":0,\"wait_s\":30}")).build(), HttpResponse.BodyHandlers.ofString());
    java.util.concurrent.atomic.AtomicLong grantedAt = new java.util.concurrent.atomic.AtomicLong();
    waiter.thenRun(() -> grantedAt.set(System.nanoTime()));
    long revokedAt = System.nanoTime();
    forceRelease();
    assertEquals(3, s.awaitExit(30), s.log());
    long exitedMs = (System.nanoTime() - revokedAt) / 1_000_000;
    // Renewals come every 10 s: leaving within a few seconds proves the watch channel told it.
    assertTrue(exitedMs < 5000, "the sidecar exited " + exitedMs + " ms after the force-release\n" + s.log());
    HttpResponse<String> granted = waiter.get(30, TimeUnit.SECONDS);
    stop.set(true);
    for (Thread t : clients) {
      t.join(30_000);
    }
    assertEquals(200, granted.statusCode(), granted.body());
    // A request that came between the revocation and the exit was refused at once; when the images in
    // hand were the last ones (the clients' next requests found the sidecar gone), none came.
    if (first503.get() > 0) {
      long heardMs = (first503.get() - revokedAt) / 1_000_000;
      assertTrue(heardMs < 1000, "the sidecar refused work " + heardMs + " ms after the force-release; expected < 1 s");
    }
    assertTrue(grantedAt.get() > last200.get(), "the waiter was granted " + (last200.get() - grantedAt.get()) / 1e6
        + " ms before the sidecar's last 200 from its model\n" + s.log());
    assertEquals(1, events("revoke_confirmed").size(), "the sidecar must confirm by releasing");
  }

  /** A distinct JPEG per {@code i}, so every request is a cache miss that runs the model. */
  static byte[] image(int i) throws Exception {
    int shift = i % 150;
    return SampleImages.jpeg(SampleImages.perChannel(SampleImages.scene(64 + (i / 150) % 128), v -> v + shift));
  }

  @Test
  void onLeaseLostCpuScoresOnCpuWithAWorkerThatSeesNoGpu() throws Exception {
    SidecarProcess s = sidecar(new JsonObject().put("on_lease_lost", "cpu"));
    forceRelease();
    JsonObject health = awaitHealth(s, h -> "serving".equals(h.getString("state"))
        && "revoked".equals(h.getJsonObject("lease").getString("state")));
    assertEquals("ok", health.getString("status"), health.encode());
    assertEquals("cpu", health.getString("device"));
    assertTrue(environ(health.getJsonObject("worker").getLong("pid")).contains("\nCUDA_VISIBLE_DEVICES=\n"),
        "a worker without a lease must see no GPU");
    HttpResponse<String> r = s.inferAsync(SidecarServiceTest.jpeg(2)).get(30, TimeUnit.SECONDS);
    assertEquals(200, r.statusCode(), r.body());
    assertEquals(0, leases().size());
  }
}
