package io.iqa.bench;

import ch.qos.logback.classic.Level;
import io.iqa.client.Lease;
import io.iqa.client.LeaseClient;
import io.iqa.protocol.wire.LeaseRequest;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.HdrHistogram.Histogram;

/**
 * Revocation to grant, as a GPU user lives it: a holder (the project's lease client, ttl 60 s)
 * that stops and releases as soon as it hears of its revocation, a queued waiter, and an
 * operator's force-release. Measured from sending the force-release to the waiter's grant: the
 * broker's revoke, the watch channel, the holder's confirming release and the hand-off.
 */
final class RevocationBench {

  static final String DESCRIPTION = "a holder on the project's LeaseClient (ttl 60 s) that releases as soon as "
      + "it hears of its revocation on the watch channel, a queued waiter; time from sending the force-release "
      + "to the waiter's grant";

  private RevocationBench() {
  }

  static Histogram measure(String brokerUrl, int n) throws Exception {
    // Every revocation is a WARN of the client and an INFO of the broker: right in a service, noise here.
    BenchCommand.quietLogs(Level.ERROR);
    Histogram h = new Histogram(3);
    try (LeaseClient holders = new LeaseClient(brokerUrl, null, 0); LeaseClient waiters = new LeaseClient(brokerUrl, null, 0);
        LeaseClient operator = new LeaseClient(brokerUrl, null, 0)) {
      Lease holder = cooperating(holders.acquire(LeaseRequest.of("holder").withGpu(0).withTtl(60)));
      for (int i = 0; i < n + 20; i++) {
        CompletableFuture<Lease> waiter = waiters.acquireAsync(LeaseRequest.of("holder").withGpu(0).withTtl(60)
            .withWait(30));
        awaitQueued(operator);
        long t0 = System.nanoTime();
        operator.forceRelease(holder.id(), null, null, "bench", false);
        Lease next = waiter.get(30, TimeUnit.SECONDS);
        if (i >= 20) { // the first ones warm the JIT
          h.recordValue(System.nanoTime() - t0);
        }
        holder = cooperating(next);
      }
      holder.close();
    }
    return h;
  }

  private static Lease cooperating(Lease lease) {
    lease.onLost(loss -> lease.close());
    return lease;
  }

  private static void awaitQueued(LeaseClient operator) throws InterruptedException {
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (operator.status().path("gpus").get(0).path("waiting").isEmpty()) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("the waiter never showed up in the queue");
      }
      Thread.sleep(1);
    }
  }
}
