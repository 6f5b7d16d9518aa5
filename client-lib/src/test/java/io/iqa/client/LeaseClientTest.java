package io.iqa.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.broker.BrokerOptions;
import io.iqa.broker.BrokerVerticle;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** LeaseClient against a real broker on a free port. */
class LeaseClientTest {

  private Vertx vertx;
  private String url;

  @BeforeEach
  void broker() throws Exception {
    vertx = Vertx.vertx();
    BrokerVerticle b = new BrokerVerticle(new BrokerOptions(new JsonObject().put("port", 0).put("gpus",
        new JsonArray().add(new JsonObject().put("index", 0).put("vram_mb", 0)))).fresh(true));
    vertx.deployVerticle(b).await(60, TimeUnit.SECONDS);
    url = "http://127.0.0.1:" + b.actualPort();
  }

  @AfterEach
  void stop() throws Exception {
    vertx.close().await(30, TimeUnit.SECONDS);
  }

  private static int leases(LeaseClient c) {
    return c.status().path("gpus").get(0).path("leases").size();
  }

  @Test
  void tryWithResourcesReleasesTheLease() {
    try (LeaseClient client = new LeaseClient(url)) {
      try (Lease lease = client.acquire(LeaseRequest.of("batch-job").withPurpose("test").withTtl(3))) {
        assertEquals(0, lease.gpu());
        assertEquals(1, leases(client));
      }
      assertEquals(0, leases(client), "close() must release");
      IqaException busy;
      try (Lease held = client.acquire(LeaseRequest.of("holder"))) {
        busy = assertThrows(IqaException.class, () -> client.acquire(LeaseRequest.of("other")));
      }
      assertEquals(409, busy.status());
      assertEquals("gpu_busy", busy.code());
    }
  }

  @Test
  void aForceReleaseReachesTheLossCallbackWithinOneRenewPeriod() throws Exception {
    try (LeaseClient client = new LeaseClient(url)) {
      Lease lease = client.acquire(LeaseRequest.of("victim").withTtl(1.5));
      CompletableFuture<String> lost = new CompletableFuture<>();
      lease.onLost(lost::complete);
      long t0 = System.nanoTime();
      client.forceRelease(lease.id(), null, null, "operator");
      String reason = lost.get(5, TimeUnit.SECONDS);
      long ms = (System.nanoTime() - t0) / 1_000_000;
      assertEquals("force_released", reason);
      assertTrue(ms <= 500 + 300, "loss reported after " + ms + " ms; the renew period is 500 ms");
      lease.close();
    }
  }

  @Test
  void selfHealReleasesTheOwnersOldLeaseButNotAnotherOwners() throws Exception {
    try (LeaseClient fresh = new LeaseClient(url, null, 0.5)) {
      Lease mine = new LeaseClient(url).acquire(LeaseRequest.of("pipeline").withTtl(60).withPid(null));
      Thread.sleep(800);
      // The GPU is whole-device: while "pipeline"'s old lease is held nobody else gets it; the
      // self-heal of "pipeline" frees it, a different owner's acquire must not.
      IqaException other = assertThrows(IqaException.class, () -> fresh.acquire(LeaseRequest.of("someone-else")));
      assertEquals(409, other.status(), "another owner's self-heal must not touch pipeline's lease");
      try (Lease again = fresh.acquire(LeaseRequest.of("pipeline"))) {
        assertTrue(again.id() > mine.id());
      }
      assertTrue(mine.lostReason() == null || mine.lostReason().equals("force_released"));
    }
  }
}
