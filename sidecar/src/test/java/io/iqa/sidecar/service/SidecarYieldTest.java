package io.iqa.sidecar.service;

import io.iqa.broker.LocalBroker;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.testkit.LeaseHistoryChecker.Grant;
import io.iqa.testkit.LeaseHistoryChecker;
import io.iqa.client.Lease;
import io.iqa.client.LeaseClient;
import io.iqa.protocol.wire.LeaseRequest;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A busy sidecar holding GPU 0 yields it to a program that asks for it, and takes it back for its
 * next cache miss once that program is done: a real broker, a real sidecar process (front and
 * worker), and the other program as a real {@link LeaseClient}. The lease history, the sidecar's
 * from the broker's record and the program's from its own grant and release, must not overlap.
 */
class SidecarYieldTest {

  @TempDir
  Path dir;
  private Vertx vertx;
  private String brokerUrl;
  private SidecarProcess sidecar;

  @BeforeEach
  void startBroker() {
    vertx = Vertx.vertx();
    brokerUrl = LocalBroker.start(vertx, 1);
  }

  @AfterEach
  void stop() throws Exception {
    if (sidecar != null) {
      sidecar.close();
    }
    SidecarServiceTest.await(vertx.close());
  }

  private List<JsonObject> events() throws Exception {
    return new JsonObject(SidecarProcess.HTTP.send(HttpRequest.newBuilder(URI.create(brokerUrl + "/v1/gpu/events"))
        .build(), HttpResponse.BodyHandlers.ofString()).body()).getJsonArray("events").stream()
        .map(JsonObject.class::cast).toList();
  }

  @Test
  void aBusySidecarFinishesItsBatchYieldsTheGpuAndIsServedAgainAfterTheOtherProgramReleases() throws Exception {
    sidecar = new SidecarProcess(new JsonObject()
        .put("models", new JsonArray().add(new JsonObject().put("name", "tech_sharpness").put("backend", "builtin"))
            .add(new JsonObject().put("name", "tech_noise").put("backend", "builtin")))
        .put("broker", new JsonObject().put("url", brokerUrl))
        .put("lease", new JsonObject().put("owner", "iqa-sidecar").put("ttl_s", 30).put("wait_s", 30)
            .put("required", true).put("gpu", 0))
        .put("batching", new JsonObject().put("max_queue_delay_ms", 20)), dir).awaitListening();
    long worker = sidecar.health().getJsonObject("worker").getLong("pid");

    // Keep the sidecar busy with new images; every answer must be a 200, before, during and after the yield.
    List<HttpResponse<String>> answers = new CopyOnWriteArrayList<>();
    AtomicBoolean stop = new AtomicBoolean();
    Thread load = new Thread(() -> {
      for (int i = 0; !stop.get(); i++) {
        try {
          answers.add(sidecar.inferAsync(SidecarLeaseTest.image(i)).get(60, TimeUnit.SECONDS));
        } catch (Exception e) {
          return;
        }
      }
    }, "busy-client");
    load.start();
    await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(10))
        .until(() -> answers.size() >= 10);

    List<Grant> uses = new ArrayList<>();
    AtomicBoolean workerGoneAtGrant = new AtomicBoolean();
    try (LeaseClient llm = new LeaseClient(brokerUrl)) {
      long asked = System.nanoTime();
      long askedWall = wallNs();
      Lease granted = llm.acquireAsync(LeaseRequest.of("llm-server").withGpu(0).withWait(30).withTtl(30))
          .whenComplete((l, e) -> workerGoneAtGrant.set(!SidecarLeaseTest.alive(worker)))
          .get(30, TimeUnit.SECONDS);
      long grantedWall = wallNs();
      long yieldMs = (System.nanoTime() - asked) / 1_000_000;
      assertTrue(workerGoneAtGrant.get(), "the program was granted while the sidecar's worker still ran");
      // The grant can reach us before the sidecar has read its own release's answer.
      // (It queues for the GPU again at once: the busy client's next image waits for it.)
      JsonObject yielded = SidecarLeaseTest.awaitHealth(sidecar,
          h -> "yielded".equals(h.getJsonObject("lease").getString("reason")));
      assertTrue(!"serving".equals(yielded.getString("state")), yielded.encode());

      // The sidecar's next cache miss waits for the GPU while the program holds it.
      int before = answers.size();
      Thread.sleep(1500);
      assertTrue(answers.size() <= before + 1, "the sidecar kept scoring new images while the GPU was yielded");
      CompletableFuture<HttpResponse<String>> next = sidecar.inferAsync(SidecarLeaseTest.image(1_000_000));
      Thread.sleep(300);
      assertFalse(next.isDone(), "a cache miss must wait for the GPU, not run without it");
      long releasedWall = wallNs();
      granted.close();
      uses.add(new Grant(granted.id(), 0, 0, true, askedWall, grantedWall, releasedWall, "llm-server"));
      HttpResponse<String> served = next.get(60, TimeUnit.SECONDS);
      assertEquals(200, served.statusCode(), served.body());
      System.out.println("yield latency (yield request -> waiter granted), busy sidecar: " + yieldMs + " ms");
    }
    stop.set(true);
    load.join(60_000);
    for (HttpResponse<String> r : answers) {
      assertEquals(200, r.statusCode(), "the sidecar lost work on the way: " + r.body() + "\n" + sidecar.log());
    }

    List<JsonObject> events = events();
    JsonObject yieldEvent = events.stream().filter(e -> e.getString("type").equals("released")
        && e.getString("owner").equals("iqa-sidecar")).findFirst().orElseThrow();
    assertEquals("yielded", yieldEvent.getString("reason"), events.toString());
    assertTrue(events.stream().anyMatch(e -> e.getString("type").equals("yield_requested")), events.toString());
    // The sidecar's GPU use lies within its lease as the broker recorded it (its worker exits before it
    // releases); the program's within its own grant and release.
    Map<Long, Long> grantedAt = new java.util.HashMap<>();
    for (JsonObject e : events) {
      if (!e.getString("owner").equals("iqa-sidecar")) {
        continue;
      }
      long t = Instant.parse(e.getString("time")).toEpochMilli() * 1_000_000;
      if (e.getString("type").equals("granted")) {
        grantedAt.put(e.getLong("lease_id"), t);
      } else if (e.getString("type").equals("released")) {
        uses.add(new Grant(e.getLong("lease_id"), 0, 0, true, grantedAt.get(e.getLong("lease_id")),
            grantedAt.get(e.getLong("lease_id")), t, "iqa-sidecar"));
      }
    }
    assertTrue(uses.size() >= 2, uses.toString());
    assertEquals(List.of(), new LeaseHistoryChecker(Map.of(0, 0)).check(uses), "two programs used gpu 0 at once");
    assertTrue(sidecar.log().indexOf("exited (code") < sidecar.log().indexOf("released (yielded)"),
        "the worker must be gone before the lease is released:\n" + sidecar.log());
  }

  private static long wallNs() {
    Instant now = Instant.now();
    return now.getEpochSecond() * 1_000_000_000L + now.getNano();
  }
}
