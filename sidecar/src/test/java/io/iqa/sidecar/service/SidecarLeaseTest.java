package io.iqa.sidecar.service;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.broker.BrokerOptions;
import io.iqa.broker.BrokerVerticle;
import io.iqa.sidecar.samples.SampleImages;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real broker and a real sidecar process (front and GPU worker): the lease lifecycle end to end.
 * {@code lease.required} makes the sidecar lease on this CPU-only machine as it would on a GPU one.
 */
class SidecarLeaseTest {

  @TempDir
  Path dir;
  private Vertx vertx;
  String brokerUrl;
  private final List<SidecarProcess> sidecars = new ArrayList<>();

  @BeforeEach
  void startBroker() {
    vertx = Vertx.vertx();
    BrokerVerticle broker = new BrokerVerticle(new BrokerOptions(new JsonObject().put("port", 0)
        .put("reaper_interval_ms", 200).put("gpus", new JsonArray().add(new JsonObject().put("index", 0)
            .put("vram_mb", 0)))).fresh(true));
    SidecarServiceTest.await(vertx.deployVerticle(broker));
    brokerUrl = "http://127.0.0.1:" + broker.actualPort();
  }

  @AfterEach
  void stop() throws Exception {
    for (SidecarProcess s : sidecars) {
      s.close();
    }
    SidecarServiceTest.await(vertx.close());
  }

  JsonObject config(JsonObject extra) {
    return new JsonObject()
        .put("models", new JsonArray().add(new JsonObject().put("name", "tech_sharpness").put("backend", "builtin"))
            .add(new JsonObject().put("name", "tech_noise").put("backend", "builtin")))
        .put("broker", new JsonObject().put("url", brokerUrl))
        .put("lease", new JsonObject().put("owner", "iqa-sidecar-test").put("ttl_s", 3).put("required", true))
        .mergeIn(extra, true);
  }

  SidecarProcess sidecar(JsonObject extra) throws Exception {
    SidecarProcess s = new SidecarProcess(config(extra), dir);
    sidecars.add(s);
    return s.awaitListening();
  }

  JsonObject brokerGet(String path) throws Exception {
    return new JsonObject(SidecarProcess.HTTP.send(HttpRequest.newBuilder(URI.create(brokerUrl + path)).build(),
        HttpResponse.BodyHandlers.ofString()).body());
  }

  JsonArray leases() throws Exception {
    return brokerGet("/v1/gpu/status").getJsonArray("gpus").getJsonObject(0).getJsonArray("leases");
  }

  List<JsonObject> events(String type) throws Exception {
    return brokerGet("/v1/gpu/events").getJsonArray("events").stream().map(JsonObject.class::cast)
        .filter(e -> e.getString("type").equals(type)).toList();
  }

  private void forceRelease() throws Exception {
    SidecarProcess.HTTP.send(HttpRequest.newBuilder(URI.create(brokerUrl + "/v1/gpu/force_release"))
        .POST(HttpRequest.BodyPublishers.ofString("{\"owner\":\"iqa-sidecar-test\",\"reason\":\"operator needs the GPU\"}"))
        .build(), HttpResponse.BodyHandlers.ofString());
  }

  /** Polls /health until {@code until} holds (20 s at most); a timeout shows the last /health and the log. */
  static JsonObject awaitHealth(SidecarProcess s, Predicate<JsonObject> until) {
    JsonObject[] last = new JsonObject[1];
    await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(50)).untilAsserted(() -> {
      last[0] = s.health();
      assertTrue(until.test(last[0]), "last /health: " + last[0].encode() + "\n" + s.log());
    });
    return last[0];
  }

  static boolean alive(long pid) {
    return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
  }

  /** The worker's environment, as the kernel shows it. */
  static String environ(long pid) throws Exception {
    return "\n" + new String(Files.readAllBytes(Path.of("/proc", Long.toString(pid), "environ")),
        StandardCharsets.UTF_8).replace('\0', '\n') + "\n";
  }

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
        HttpRequest.newBuilder(URI.create(brokerUrl + "/v1/gpu/lease")).POST(HttpRequest.BodyPublishers.ofString(
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
