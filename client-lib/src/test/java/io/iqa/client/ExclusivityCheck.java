package io.iqa.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.testkit.BrokerProcess;
import io.iqa.testkit.LeaseHistoryChecker.Grant;
import io.iqa.testkit.LeaseHistoryChecker.Participant;
import io.iqa.testkit.LeaseHistoryChecker.Recorder;
import io.iqa.testkit.LeaseHistoryChecker;
import io.iqa.protocol.wire.LeaseRequest;
import io.iqa.protocol.wire.Priority;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * No two programs ever use one GPU at once, as the programs themselves see it. Sixteen holders,
 * each a real {@link LeaseClient}, take leases and record the interval in which they believe they
 * may use the GPU: from the grant's arrival to the moment they stopped (they released, heard of a
 * revocation and stopped, reached their own deadline, or were killed). Meanwhile they force-release
 * each other, hold past stale_max_age_s, wait longer than their ttl for a grant, get killed (kill -9
 * of the lease's pid, renewals stopped), lose their broker behind a cut network link; some run a
 * real command under the lease ({@link LeasedProcess}, as {@code iqa gpu run} does) that others
 * revoke the moment it is granted, a stop racing the command's start (their interval ends when the
 * command is gone); and the brokers themselves are killed with -9 and restarted, every other time
 * with the wall clock stepped ten minutes forward or back (libfaketime). {@link LeaseHistoryChecker}
 * then requires that no two belief intervals on a device overlap beyond its capacity, and every grant
 * that arrives over an uncut link must be valid for a third of its ttl at least (a grant that waited
 * longer than its ttl included). One test class per store, so the suite runs them side by side.
 */
abstract class ExclusivityCheck {

  private static final int HOLDERS = 16;
  private static final long RUN_NS = 22_000_000_000L;
  private static final Map<Integer, Integer> CAPACITY = Map.of(0, 0, 1, 8000);

  static JsonObject config() {
    return new JsonObject()
        .put("gpus", new JsonArray()
            .add(new JsonObject().put("index", 0).put("vram_mb", 0))
            .add(new JsonObject().put("index", 1).put("vram_mb", 8000)))
        .put("reaper_interval_ms", 200)
        .put("stale_max_age_s", 3)
        .put("priority_aging_s", 1);
  }

  void check(List<BrokerProcess> started) throws Exception {
    AtomicReferenceArray<BrokerProcess> brokers = new AtomicReferenceArray<>(started.toArray(new BrokerProcess[0]));
    List<TcpProxy> proxies = new ArrayList<>();
    Recorder run = new Recorder();
    long end = System.nanoTime() + RUN_NS;
    List<Thread> threads = new ArrayList<>();
    try {
      for (int i = 0; i < HOLDERS; i++) {
        TcpProxy proxy = new TcpProxy(started.get(i % started.size()).port);
        proxies.add(proxy);
        Holder h = new Holder("h" + i, proxy, 4242 + i, run);
        threads.add(start("holder-" + i, () -> h.run(end)));
      }
      Random chaos = new Random(99);
      threads.add(start("partitions", () -> {
        while (System.nanoTime() < end - 4_000_000_000L) {
          sleep(1500 + chaos.nextInt(1500));
          TcpProxy p = proxies.get(chaos.nextInt(proxies.size()));
          p.partition(true);
          run.count("partitions");
          sleep(1500 + chaos.nextInt(2500));
          p.partition(false);
        }
      }));
      threads.add(start("broker-kills", () -> {
        int k = 0;
        while (System.nanoTime() < end - 6_000_000_000L) {
          sleep(4000 + chaos.nextInt(2000));
          int which = k++ % brokers.length();
          try {
            brokers.get(which).kill9();
            run.count("broker_kill9");
            sleep(1000 + chaos.nextInt(1500));
            // Every other restart with the wall clock stepped: restored leases must not care.
            String step = k % 2 == 0 ? (k % 4 == 0 ? "+600s" : "-600s") : null;
            brokers.set(which, brokers.get(which).restart(false, step));
            run.count(step == null ? "broker_restart" : "broker_restart_clock_step");
          } catch (Exception e) {
            throw new AssertionError("broker restart failed", e);
          }
        }
      }));
      for (Thread t : threads) {
        t.join(120_000);
        assertTrue(!t.isAlive(), t.getName() + " did not finish");
      }
    } finally {
      for (TcpProxy p : proxies) {
        p.close();
      }
      for (int i = 0; i < brokers.length(); i++) {
        brokers.get(i).close();
      }
    }
    System.out.println("exclusivity check: " + run);
    List<Grant> history = run.grants();
    List<String> problems = new LeaseHistoryChecker(CAPACITY).check(history);
    assertEquals(List.of(), problems, "holders believed they held one GPU at once (first 20 shown): "
        + problems.subList(0, Math.min(20, problems.size())));
    // The run must have exercised what it claims to check.
    assertTrue(history.size() >= 70, "only " + history.size() + " grants: the run proves too little " + run);
    // A deadline loss is no longer required: a grant that waited must not lose its lease for it.
    for (String what : List.of("force_released", "stale", "killed", "broker_restart", "broker_restart_clock_step",
        "partitions", "released", "waited_grant", "waited_longer_than_ttl", "command_run", "stop_racing_start")) {
      // (This read once counted one more of each, so it could not fail.)
      assertTrue(run.seen(what) > 0, "the run never saw '" + what + "': " + run);
    }
    assertEquals(0, run.seen("short_grant"), "grants that arrived valid for less than a third of their ttl: " + run);
  }

  /** One program that wants a GPU now and then. */
  private static final class Holder extends Participant {
    private final TcpProxy proxy;
    private LeaseClient client;

    Holder(String name, TcpProxy proxy, long seed, Recorder run) {
      super(name, seed, run);
      this.proxy = proxy;
      this.client = newClient();
    }

    private LeaseClient newClient() {
      return new LeaseClient(proxy.url(), null, 0, Duration.ofSeconds(3));
    }

    void run(long end) {
      try {
        while (System.nanoTime() < end) {
          once();
        }
      } finally {
        client.close();
      }
    }

    private void once() {
      boolean killable = rnd.nextDouble() < 0.15;
      Process pid = killable ? spawnSleeper() : null;
      LeaseRequest r = request(pid);
      long sent = System.nanoTime();
      Lease lease;
      try {
        lease = client.acquire(r);
      } catch (IqaException e) {
        // Busy, or the broker is down or cut off (the proxy drops the connection): try again soon.
        run.count(e.status() == 409 ? "busy" : "acquire_failed");
        if (pid != null) {
          pid.destroyForcibly();
        }
        sleep(50 + rnd.nextInt(150));
        return;
      }
      long granted = System.nanoTime();
      run.count(r.waitS() > 0 ? "waited_grant" : "grant");
      double waitedS = (granted - sent) / 1e9;
      if (waitedS > r.ttlS()) {
        run.count("waited_longer_than_ttl");
      }
      if (lease.remaining().toMillis() < r.ttlS() * 1000 / 3 && !proxy.partitionedSince(sent)) {
        run.count("short_grant");
        System.out.println("short grant: " + name + " lease " + lease.id() + " waited " + waitedS + " s, remaining "
            + lease.remaining() + " of ttl " + r.ttlS());
      }
      if (rnd.nextDouble() < 0.25) {
        runCommand(lease, r, sent, granted);
        return;
      }
      AtomicLong stoppedAt = new AtomicLong();
      CountDownLatch stopped = new CountDownLatch(1);
      long stopDelayMs = rnd.nextInt(200);
      lease.onLost(loss -> {
        // Stopping GPU work takes a moment, but never past this holder's own deadline.
        sleep(Math.min(stopDelayMs, lease.remaining().toMillis()));
        stoppedAt.compareAndSet(0, System.nanoTime());
        run.count(loss.reason().wireName());
        stopped.countDown();
      });
      if (rnd.nextDouble() < 0.12) {
        try {
          client.forceRelease(null, "h" + rnd.nextInt(HOLDERS), null, "exclusivity check", false);
        } catch (IqaException e) {
          run.count("force_failed");
        }
      }
      // Mostly short jobs; one in five holds past stale_max_age_s (3 s), to be revoked as stale.
      long holdMs = rnd.nextDouble() < 0.2 ? 3000 + rnd.nextInt(2000) : 50 + rnd.nextInt(750);
      boolean lost;
      try {
        lost = stopped.await(holdMs, TimeUnit.MILLISECONDS);
      } catch (InterruptedException e) {
        throw new AssertionError(e);
      }
      if (!lost && pid != null && rnd.nextBoolean()) {
        // kill -9 of the holder: it stops using the GPU at once, renews nothing, releases nothing.
        stoppedAt.compareAndSet(0, System.nanoTime());
        client.halt();
        pid.destroyForcibly();
        run.count("killed");
        client = newClient();
      } else {
        stoppedAt.compareAndSet(0, System.nanoTime());
        if (!lost) {
          run.count("released");
        }
        lease.close();
        if (pid != null) {
          pid.destroyForcibly();
        }
      }
      run.grant(new Grant(lease.id(), lease.gpu(), lease.vramMb(), lease.exclusive(), sent, granted, stoppedAt.get(),
          name));
    }

    /**
     * As {@code iqa gpu run}: a real command under the lease, stopped when the lease is lost; half of
     * the time another client revokes the lease the moment it is granted, racing the command's start.
     * The belief interval ends when the command (and its family) is gone.
     */
    private void runCommand(Lease lease, LeaseRequest r, long sent, long granted) {
      run.count("command_run");
      long holdS = 1 + rnd.nextInt(3);
      if (rnd.nextBoolean()) {
        run.count("stop_racing_start");
        Thread racer = new Thread(() -> {
          try {
            client.forceRelease(lease.id(), null, null, "a stop racing the start", false);
          } catch (IqaException e) {
            run.count("force_failed");
          }
        }, "racer");
        racer.start();
      }
      LeasedProcess.Result result = new LeasedProcess(List.of("sleep", Long.toString(holdS)), lease.cudaEnv(), 0, 1000,
          "KILL", null, null).run(lease);
      run.count(result.loss() != null ? result.loss().reason().wireName() : "released");
      // Its GPU use ends when the command's family is gone, before the release (which may take a while).
      run.grant(new Grant(lease.id(), lease.gpu(), lease.vramMb(), lease.exclusive(), sent, granted, result.goneNanos(),
          name));
    }

    private LeaseRequest request(Process pid) {
      LeaseRequest r = LeaseRequest.of(name).withPurpose("exclusivity check").withTtl(2 + rnd.nextInt(3))
          .withPriority(Priority.values()[rnd.nextInt(3)])
          .withPid(pid == null ? ProcessHandle.current().pid() : pid.pid());
      // A whole device (gpu 0), a share of gpu 1 packed beside others, or any device with room for 1 GB.
      int kind = rnd.nextInt(4);
      if (kind == 0) {
        r = r.withGpu(0);
      } else if (kind == 3) {
        r = r.withVramMb(1000);
      } else {
        r = r.withGpu(1).withVramMb(500 + rnd.nextInt(4) * 500);
      }
      // No wait, a short one, or one longer than the ttl (a grant that waited must keep its lease).
      double choice = rnd.nextDouble();
      return choice < 0.4 ? r : choice < 0.75 ? r.withWait(0.2 + rnd.nextDouble() * 2)
          : r.withWait(r.ttlS() * (1.2 + rnd.nextDouble()));
    }

    private static Process spawnSleeper() {
      try {
        return new ProcessBuilder("sleep", "600").start();
      } catch (java.io.IOException e) {
        throw new AssertionError("cannot start a holder process", e);
      }
    }
  }

  private static Thread start(String name, Runnable body) {
    Thread t = new Thread(body, name);
    t.start();
    return t;
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(Math.max(0, ms));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
