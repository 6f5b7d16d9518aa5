package io.iqa.client;

import io.iqa.broker.LocalBroker;
import io.iqa.protocol.wire.EndReason;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.protocol.wire.LeaseRequest;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The one lease client against a real broker on a free port. */
class LeaseClientTest {

  private Vertx vertx;
  private int port;
  private String url;

  @BeforeEach
  void broker() throws Exception {
    vertx = Vertx.vertx();
    port = deploy(vertx, 0);
    url = "http://127.0.0.1:" + port;
  }

  @AfterEach
  void stop() throws Exception {
    vertx.close().await(30, TimeUnit.SECONDS);
  }

  /** A fresh memory-store broker with one whole-device gpu 0. @return its port */
  /** @return completes with {@code lease}'s loss */
  static CompletableFuture<LeaseLoss> whenLost(Lease lease) {
    CompletableFuture<LeaseLoss> lost = new CompletableFuture<>();
    lease.onLost(lost::complete);
    return lost;
  }

  private static int deploy(Vertx vertx, int port) throws Exception {
    String url = LocalBroker.start(vertx, 1, new JsonObject().put("port", port).put("reaper_interval_ms", 200));
    return java.net.URI.create(url).getPort();
  }

  private static int leases(LeaseClient c) {
    return c.status().path("gpus").get(0).path("leases").size();
  }

  @Test
  void tryWithResourcesReleasesTheLease() {
    try (LeaseClient client = new LeaseClient(url)) {
      try (Lease lease = client.acquire(LeaseRequest.of("batch-job").withPurpose("test").withTtl(3))) {
        assertEquals(0, lease.gpu());
        assertTrue(lease.valid());
        assertEquals(1, leases(client));
      }
      assertEquals(0, leases(client), "close() must release");
      IqaException busy;
      try (Lease held = client.acquire(LeaseRequest.of("holder"))) {
        busy = assertThrows(IqaException.class, () -> client.acquire(LeaseRequest.of("other")));
      }
      assertEquals(409, busy.status());
      assertEquals("gpu_busy", busy.code());
      assertEquals(io.iqa.protocol.wire.ErrorCode.GPU_BUSY, busy.errorCode());
    }
  }

  @Test
  void anAcquireWaitsAsLongAsItsWaitNotAsLongAsTheCallTimeout() throws Exception {
    try (LeaseClient client = new LeaseClient(url, null, 0, Duration.ofSeconds(1))) {
      Lease holder = client.acquire(LeaseRequest.of("holder").withTtl(30));
      CompletableFuture<Lease> waiter = client.acquireAsync(LeaseRequest.of("waiter").withWait(20));
      Thread.sleep(2500);
      assertFalse(waiter.isDone(), "the waiter gave up or was granted while the holder held the GPU: " + waiter);
      holder.close();
      try (Lease granted = waiter.get(10, TimeUnit.SECONDS)) {
        assertTrue(granted.valid());
      }
    }
  }

  /**
   * The deadline rule that once killed every grant that waited longer than 2/3 of its ttl: a holder
   * granted after waiting twice its ttl keeps a valid lease (renewed as usual) for well past a ttl.
   */
  @Test
  void aGrantThatWaitedLongerThanItsTtlKeepsItsLeaseValidAndRenewed() throws Exception {
    try (LeaseClient client = new LeaseClient(url)) {
      Lease holder = client.acquire(LeaseRequest.of("holder").withTtl(30));
      long sent = System.nanoTime();
      CompletableFuture<Lease> waiter = client.acquireAsync(LeaseRequest.of("waiter").withTtl(2).withWait(20));
      Thread.sleep(4000);
      holder.close();
      try (Lease granted = waiter.get(10, TimeUnit.SECONDS)) {
        long waitedMs = (System.nanoTime() - sent) / 1_000_000;
        assertTrue(waitedMs >= 4000, "waited only " + waitedMs + " ms");
        assertTrue(granted.valid(), "a grant that waited " + waitedMs + " ms (twice its ttl) was lost at once");
        assertTrue(granted.remaining().toMillis() >= 1300, "remaining " + granted.remaining() + " of a 2 s ttl");
        Thread.sleep(5000);
        assertTrue(granted.valid(), "the waited grant was not renewed: " + granted.loss());
        assertNull(granted.loss());
      }
    }
  }

  @Test
  void aLeaseGrantedAfterItsClientClosedIsReleasedAtOnceNotLeftHeld() throws Exception {
    try (LeaseClient other = new LeaseClient(url)) {
      Lease holder = other.acquire(LeaseRequest.of("holder").withTtl(30));
      LeaseClient closing = new LeaseClient(url);
      CompletableFuture<Lease> late = closing.acquireAsync(LeaseRequest.of("late").withWait(20));
      Thread.sleep(500);
      closing.close();
      holder.close();
      java.util.concurrent.ExecutionException failed = assertThrows(java.util.concurrent.ExecutionException.class,
          () -> late.get(10, TimeUnit.SECONDS));
      assertTrue(failed.getCause().getMessage().contains("closed"), failed.getCause().getMessage());
      org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(5)).until(() -> leases(other) == 0);
      try (Lease next = other.acquire(LeaseRequest.of("next"))) {
        assertTrue(next.valid(), "the GPU must be free again");
      }
    }
  }

  @Test
  void aRevocationIsHeardAtOnceAndCloseConfirmsItSoTheWaiterIsGrantedThen() throws Exception {
    try (LeaseClient client = new LeaseClient(url); LeaseClient other = new LeaseClient(url)) {
      Lease lease = client.acquire(LeaseRequest.of("victim").withTtl(60));
      CompletableFuture<LeaseLoss> lost = whenLost(lease);
      CompletableFuture<Lease> waiter = other.acquireAsync(LeaseRequest.of("next").withWait(30));
      Thread.sleep(300);
      long t0 = System.nanoTime();
      client.forceRelease(lease.id(), null, null, "operator", false);
      LeaseLoss loss = lost.get(5, TimeUnit.SECONDS);
      long heardMs = (System.nanoTime() - t0) / 1_000_000;
      assertEquals(EndReason.FORCE_RELEASED, loss.reason());
      assertTrue(loss.revoked());
      assertTrue(heardMs < 1000, "loss heard after " + heardMs + " ms; ttl/3 is 20 s, so the watch did not work");
      assertFalse(lease.valid());
      Thread.sleep(300);
      assertFalse(waiter.isDone(), "granted before the revoked holder confirmed");
      lease.close();
      try (Lease next = waiter.get(5, TimeUnit.SECONDS)) {
        assertTrue(next.id() > lease.id());
      }
    }
  }

  @Test
  void withTheBrokerUnreachableTheHolderStopsByItsOwnDeadline() throws Exception {
    try (LeaseClient client = new LeaseClient(url)) {
      Lease lease = client.acquire(LeaseRequest.of("cut-off").withTtl(2));
      CompletableFuture<LeaseLoss> lost = whenLost(lease);
      long brokerGone = System.nanoTime();
      vertx.close().await(30, TimeUnit.SECONDS);
      LeaseLoss loss = lost.get(10, TimeUnit.SECONDS);
      long lostAfterMs = (System.nanoTime() - brokerGone) / 1_000_000;
      assertEquals(EndReason.DEADLINE, loss.reason(), loss.toString());
      assertFalse(loss.revoked());
      // The last renew succeeded before the broker went: the deadline lies within one ttl of that.
      assertTrue(lostAfterMs <= 2000, "lost " + lostAfterMs + " ms after the broker went; the ttl is 2 s");
      assertFalse(lease.valid());
      lease.close();
    }
  }

  @Test
  void aBrokerRestartedWithoutItsStateAnswers404AndTheLeaseIsLostAtOnce() throws Exception {
    try (LeaseClient client = new LeaseClient(url)) {
      Lease lease = client.acquire(LeaseRequest.of("forgotten").withTtl(3));
      CompletableFuture<LeaseLoss> lost = whenLost(lease);
      vertx.close().await(30, TimeUnit.SECONDS);
      vertx = Vertx.vertx();
      deploy(vertx, port);
      LeaseLoss loss = lost.get(10, TimeUnit.SECONDS);
      assertEquals(EndReason.UNKNOWN_LEASE, loss.reason(), "expected unknown_lease, got " + loss);
      lease.close();
    }
  }

  /** The fallback's self-heal once revoked a lease of its own owner whose holder was busy with a long run. */
  @Test
  void selfHealNeverRevokesALeaseWhoseHolderProcessIsAlive() throws Exception {
    try (LeaseClient first = new LeaseClient(url, null, 0); LeaseClient second = new LeaseClient(url, null, 0.5)) {
      Lease running = first.acquire(LeaseRequest.of("iqa-client").withTtl(60).withPid(ProcessHandle.current().pid()));
      Thread.sleep(800);
      IqaException queued = assertThrows(IqaException.class,
          () -> second.acquire(LeaseRequest.of("iqa-client").withWait(1)));
      assertEquals(409, queued.status(), "the second run must wait behind the first, not revoke it");
      assertNull(running.loss(), "self-heal revoked a lease whose holder (this process) is alive");
      assertTrue(running.valid());
      running.close();
    }
  }

  @Test
  void selfHealRevokesTheOwnersOldLeaseButNotAnotherOwners() throws Exception {
    try (LeaseClient old = new LeaseClient(url, null, 0); LeaseClient fresh = new LeaseClient(url, null, 0.5)) {
      Lease mine = old.acquire(LeaseRequest.of("pipeline").withTtl(60).withPid(null));
      mine.onLost(loss -> mine.close()); // a well-behaved holder: stops, then confirms
      Thread.sleep(800);
      // Whole-device gpu: another owner's self-heal must not touch "pipeline"'s lease.
      IqaException other = assertThrows(IqaException.class, () -> fresh.acquire(LeaseRequest.of("someone-else")));
      assertEquals(409, other.status());
      assertNull(mine.loss());
      try (Lease again = fresh.acquire(LeaseRequest.of("pipeline").withWait(10))) {
        assertTrue(again.id() > mine.id());
      }
      assertEquals(EndReason.FORCE_RELEASED, mine.loss().reason());
    }
  }

  /**
   * Found by the simulator (seed 55215 of 100,000): a grant whose answer came back after its ttl
   * started a command under a lease the broker could hand on at any moment.
   */
  @Test
  void aGrantThatComesBackAfterItsTtlStartsNoCommandAndIsReleased() throws Exception {
    java.nio.file.Path marker = java.nio.file.Files.createTempDirectory("late-grant").resolve("ran");
    try (TcpProxy slow = new TcpProxy(port); LeaseClient watcher = new LeaseClient(url)) {
      slow.delayAnswers(1500); // the way back is slower than the whole 1 s ttl
      try (LeaseClient client = new LeaseClient(slow.url(), null, 0)) {
        Lease late = client.acquire(LeaseRequest.of("late").withTtl(1));
        assertFalse(late.valid(), "a grant whose ttl ran out on the way is of no use");
        assertEquals(EndReason.DEADLINE, late.loss().reason());
        IqaException refused = assertThrows(IqaException.class, () -> new LeasedProcess(
            java.util.List.of("sh", "-c", "touch '" + marker + "'"), late.cudaEnv(), 0, 1000, "KILL", null, null).run(late));
        assertTrue(refused.getMessage().contains("not started"), refused.getMessage());
        assertFalse(java.nio.file.Files.exists(marker), "the command ran under a lease whose time was up");
        org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> leases(watcher) == 0);
      }
    }
  }
}
