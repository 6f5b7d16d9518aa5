package io.iqa.sidecar.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.broker.BrokerOptions;
import io.iqa.broker.BrokerVerticle;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A real broker and a real sidecar process: the lease lifecycle end to end. */
class SidecarLeaseTest {

  @TempDir
  Path dir;
  private Vertx vertx;
  private String brokerUrl;
  private final List<SidecarProcess> sidecars = new ArrayList<>();

  @BeforeEach
  void startBroker() {
    vertx = Vertx.vertx();
    BrokerVerticle broker = new BrokerVerticle(new BrokerOptions(new JsonObject().put("port", 0)
        .put("reaper_interval_ms", 200).put("gpus", new JsonArray().add(new JsonObject().put("index", 0).put("vram_mb", 0)))).fresh(true));
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

  private JsonObject config(JsonObject extra) {
    return new JsonObject()
        .put("models", new JsonArray().add(new JsonObject().put("name", "tech_sharpness").put("backend", "builtin"))
            .add(new JsonObject().put("name", "tech_noise").put("backend", "builtin")))
        .put("broker", new JsonObject().put("url", brokerUrl).put("owner", "iqa-sidecar-test").put("ttl_s", 3))
        .put("lease", new JsonObject().put("required", true))
        .mergeIn(extra, true);
  }

  private SidecarProcess sidecar(JsonObject extra) throws Exception {
    SidecarProcess s = new SidecarProcess(config(extra), dir);
    sidecars.add(s);
    return s.awaitListening();
  }

  private JsonObject brokerGet(String path) throws Exception {
    return new JsonObject(SidecarProcess.HTTP.send(HttpRequest.newBuilder(URI.create(brokerUrl + path)).build(),
        HttpResponse.BodyHandlers.ofString()).body());
  }

  private JsonArray leases() throws Exception {
    return brokerGet("/v1/gpu/status").getJsonArray("gpus").getJsonObject(0).getJsonArray("leases");
  }

  private void forceRelease() throws Exception {
    SidecarProcess.HTTP.send(HttpRequest.newBuilder(URI.create(brokerUrl + "/v1/gpu/force_release"))
        .POST(HttpRequest.BodyPublishers.ofString("{\"owner\":\"iqa-sidecar-test\",\"reason\":\"operator needs the GPU\"}"))
        .build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void theLeaseIsGrantedBeforeModelsLoadAndShowsInTheBrokersStatus() throws Exception {
    SidecarProcess s = sidecar(new JsonObject());
    JsonArray leases = leases();
    assertEquals(1, leases.size(), leases.encode());
    assertEquals("iqa-sidecar-test", leases.getJsonObject(0).getString("owner"));
    assertEquals(s.process.pid(), leases.getJsonObject(0).getLong("pid"));
    String log = s.log();
    int granted = log.indexOf("lease " + leases.getJsonObject(0).getLong("lease_id") + " granted");
    int loaded = log.indexOf("loaded model");
    assertTrue(granted >= 0 && loaded > granted, "the lease must come before the models:\n" + log);
    JsonObject health = s.health();
    assertEquals("held", health.getJsonObject("lease").getString("state"));
    assertTrue(!health.encode().contains("token"), "health must not show the lease token: " + health);
    assertEquals(200, s.inferAsync(SidecarServiceTest.jpeg(1)).get(30, TimeUnit.SECONDS).statusCode());
  }

  @Test
  void aForceReleaseMakesTheSidecarRefuseWorkAndExit() throws Exception {
    SidecarProcess s = sidecar(new JsonObject());
    forceRelease();
    int code = s.awaitExit(15);
    assertEquals(3, code, "a sidecar whose lease was taken away exits with 3\n" + s.log());
    assertTrue(s.log().contains("revoked (force_released"), s.log());
    assertTrue(s.log().contains("confirming that the sidecar stopped using the GPU"), s.log());
  }

  @Test
  void afterTheLeaseIsLostInferAnswers503LeaseLostAndTheExitCodeIs3() throws Exception {
    // In-process, so the moment between loss and exit can be observed.
    java.util.concurrent.atomic.AtomicInteger exitCode = new java.util.concurrent.atomic.AtomicInteger(-1);
    SidecarVerticle sidecar = new SidecarVerticle(new SidecarOptions(config(new JsonObject()).put("port", 0)
        .put("broker", new JsonObject().put("url", brokerUrl).put("owner", "iqa-sidecar-test").put("ttl_s", 1.5))), dir)
        .onExit(exitCode::set);
    Vertx own = Vertx.vertx();
    try {
      SidecarServiceTest.await(own.deployVerticle(sidecar));
      java.net.URI infer = URI.create("http://127.0.0.1:" + sidecar.actualPort() + "/infer");
      forceRelease();
      HttpResponse<String> r = null;
      long deadline = System.nanoTime() + 10_000_000_000L;
      while (System.nanoTime() < deadline) {
        r = SidecarProcess.HTTP.send(HttpRequest.newBuilder(infer).header("Content-Type", "image/jpeg")
            .POST(HttpRequest.BodyPublishers.ofByteArray(SidecarServiceTest.jpeg(7))).build(),
            HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() == 503) {
          break;
        }
        Thread.sleep(50);
      }
      assertEquals(503, r.statusCode(), r.body());
      assertEquals("lease_lost", new JsonObject(r.body()).getString("error"));
      while (exitCode.get() < 0 && System.nanoTime() < deadline) {
        Thread.sleep(20);
      }
      assertEquals(3, exitCode.get());
    } finally {
      SidecarServiceTest.await(own.close());
    }
  }

  @Test
  void afterAForceReleaseTheWaiterIsGrantedOnlyAfterTheSidecarsLastAnswerFromTheLeasedModel() throws Exception {
    // ttl 30 s: a renew comes every 10 s, so hearing of the revocation within 1 s proves the watch channel.
    SidecarProcess s = sidecar(new JsonObject().put("broker", new JsonObject().put("url", brokerUrl)
        .put("owner", "iqa-sidecar-test").put("ttl_s", 30))
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
    while (answers.get() < 20) {
      Thread.sleep(20);
    }
    CompletableFuture<HttpResponse<String>> waiter = SidecarProcess.HTTP.sendAsync(
        HttpRequest.newBuilder(URI.create(brokerUrl + "/v1/gpu/lease")).POST(HttpRequest.BodyPublishers.ofString(
            "{\"owner\":\"llm-server\",\"gpu\":0,\"wait_s\":30}")).build(), HttpResponse.BodyHandlers.ofString());
    java.util.concurrent.atomic.AtomicLong grantedAt = new java.util.concurrent.atomic.AtomicLong();
    waiter.thenRun(() -> grantedAt.set(System.nanoTime()));
    long revokedAt = System.nanoTime();
    forceRelease();
    assertEquals(3, s.awaitExit(30), s.log());
    HttpResponse<String> granted = waiter.get(30, TimeUnit.SECONDS);
    stop.set(true);
    for (Thread t : clients) {
      t.join(30_000);
    }
    assertEquals(200, granted.statusCode(), granted.body());
    assertTrue(first503.get() > 0, "no request was refused with lease_lost\n" + s.log());
    long heardMs = (first503.get() - revokedAt) / 1_000_000;
    assertTrue(heardMs < 1000, "the sidecar refused work " + heardMs + " ms after the force-release; expected < 1 s");
    assertTrue(grantedAt.get() > last200.get(), "the waiter was granted " + (last200.get() - grantedAt.get()) / 1e6
        + " ms before the sidecar's last 200 from its model\n" + s.log());
    JsonArray events = brokerGet("/v1/gpu/events").getJsonArray("events");
    assertTrue(events.encode().contains("\"revoke_confirmed\""), "the sidecar must confirm by releasing: " + events);
  }

  /** A distinct JPEG per {@code i}, so every request is a cache miss that runs the model. */
  private static byte[] image(int i) throws Exception {
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    int shift = i % 150;
    javax.imageio.ImageIO.write(io.iqa.sidecar.samples.SampleImages.perChannel(
        io.iqa.sidecar.samples.SampleImages.scene(64 + (i / 150) % 128), v -> v + shift), "jpeg", out);
    return out.toByteArray();
  }

  @Test
  void onLeaseLostCpuReloadsTheModelsOnCpuAndCarriesOn() throws Exception {
    SidecarProcess s = sidecar(new JsonObject().put("on_lease_lost", "cpu"));
    forceRelease();
    JsonObject health = null;
    long deadline = System.nanoTime() + 15_000_000_000L;
    while (System.nanoTime() < deadline) {
      health = s.health();
      if ("revoked".equals(health.getJsonObject("lease").getString("state")) && "ok".equals(health.getString("status"))) {
        break;
      }
      Thread.sleep(100);
    }
    assertEquals("ok", health.getString("status"), health.encode());
    assertEquals("cpu", health.getString("device"));
    HttpResponse<String> r = s.inferAsync(SidecarServiceTest.jpeg(2)).get(30, TimeUnit.SECONDS);
    assertEquals(200, r.statusCode(), r.body());
    assertTrue(s.process.isAlive());
  }

  @Test
  void shutdownDuringSixteenRequestsLetsThemFinishThenReleasesAndExitsZero() throws Exception {
    SidecarProcess s = sidecar(new JsonObject().put("max_batch", 32)
        .put("batching", new JsonObject().put("max_queue_delay_ms", 800)));
    List<CompletableFuture<HttpResponse<String>>> inFlight = new ArrayList<>();
    for (int i = 0; i < 16; i++) {
      inFlight.add(s.inferAsync(SidecarServiceTest.jpeg(i * 2)));
    }
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (s.health().getInteger("in_flight") < 16 && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
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
  void sigtermDrainsClosesAndReleasesTheLease() throws Exception {
    SidecarProcess s = sidecar(new JsonObject());
    assertEquals(1, leases().size());
    s.process.destroy(); // SIGTERM
    s.awaitExit(30);
    assertEquals(0, leases().size(), "SIGTERM must release the lease\n" + s.log());
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
  void killingTheSidecarLeavesALeaseTheBrokerReleasesAsHolderExited() throws Exception {
    SidecarProcess s = sidecar(new JsonObject().put("broker", new JsonObject().put("url", brokerUrl)
        .put("owner", "iqa-sidecar-test").put("ttl_s", 600)));
    assertEquals(1, leases().size());
    s.process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (!leases().isEmpty() && System.nanoTime() < deadline) {
      Thread.sleep(100);
    }
    assertEquals(0, leases().size(), "the dead sidecar's lease is still held");
    JsonArray events = brokerGet("/v1/gpu/events").getJsonArray("events");
    assertEquals("holder_exited", events.getJsonObject(events.size() - 1).getString("type"));
  }

  @Test
  void withoutABrokerALeaseRequiringSidecarFailsClearlyAndAnOptionalOneRunsOnCpu() throws Exception {
    JsonObject unreachable = new JsonObject().put("broker", new JsonObject().put("url", "http://127.0.0.1:1"));
    SidecarProcess strict = new SidecarProcess(config(unreachable), dir);
    sidecars.add(strict);
    assertEquals(1, strict.awaitExit(60));
    assertTrue(strict.log().contains("lease.required is true") && strict.log().contains("127.0.0.1:1"), strict.log());

    SidecarProcess relaxed = sidecar(unreachable.copy().put("lease", new JsonObject().put("required", false)));
    JsonObject health = relaxed.health();
    assertEquals("none", health.getJsonObject("lease").getString("state"));
    assertTrue(health.getJsonObject("lease").getString("reason").startsWith("running on CPU without a lease"),
        health.encode());
    assertEquals("cpu", health.getString("device"));
  }
}
