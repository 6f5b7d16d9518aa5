package io.iqa.broker;

import io.iqa.testkit.RedisServer;
import io.iqa.testkit.LeaseHistoryChecker;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.testkit.LeaseHistoryChecker.Grant;
import io.iqa.testkit.LeaseHistoryChecker.Participant;
import io.iqa.testkit.LeaseHistoryChecker.Recorder;
import io.iqa.broker.TestBroker.Reply;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Three brokers on one Redis, 32 clients doing a random mix of acquire (with and without waiting),
 * renew, release and force-release for 20 s. Each client records when its grants arrived and the
 * last moment it had proof each lease was alive; {@link LeaseHistoryChecker} then proves that no
 * two grants overlapped on a GPU beyond its capacity and that lease ids were unique and increasing.
 */
class RedisConcurrencyCheckTest {

  private static final int CLIENTS = 32;
  private static final long RUN_NS = 20_000_000_000L;
  private static final Map<Integer, Integer> CAPACITY = Map.of(0, 0, 1, 4000);

  @Test
  void threeBrokersOnOneRedisNeverOverlapGrantsUnderARandomMix() throws Exception {
    try (RedisServer redis = new RedisServer()) {
      JsonObject config = new JsonObject()
          .put("gpus", new JsonArray()
              .add(new JsonObject().put("index", 0).put("vram_mb", 0))
              .add(new JsonObject().put("index", 1).put("vram_mb", 4000)))
          .put("reaper_interval_ms", 200)
          .put("stale_max_age_s", 2)
          .put("priority_aging_s", 1)
          .put("store", new JsonObject().put("type", "redis").put("url", redis.url()).put("key_prefix", "check:"));
      List<TestBroker> brokers = List.of(new TestBroker(config), new TestBroker(config), new TestBroker(config));
      try {
        Recorder run = new Recorder();
        long end = System.nanoTime() + RUN_NS;
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < CLIENTS; i++) {
          Client c = new Client("c" + i, brokers.get(i % brokers.size()), 1000 + i, run);
          Thread t = new Thread(() -> c.run(end), "client-" + i);
          t.start();
          threads.add(t);
        }
        for (Thread t : threads) {
          t.join(120_000);
          assertTrue(!t.isAlive(), t.getName() + " did not finish");
        }
        System.out.println("concurrency check: " + run);
        List<Grant> history = run.grants();
        List<String> problems = new LeaseHistoryChecker(CAPACITY).check(history);
        assertEquals(List.of(), problems, "the lease history has violations (first 20 shown): "
            + problems.subList(0, Math.min(20, problems.size())));
        // The run must have exercised what it claims to check.
        assertTrue(history.size() > 300, "only " + history.size() + " grants: the run proves too little");
        assertTrue(run.seen("busy") > 50, "too little contention: " + run);
        assertTrue(run.seen("lost") > 0, "no lease was ever lost (expiry, stale, force): " + run);
        assertTrue(run.seen("force_released") > 0, "no force-release happened: " + run);
        assertTrue(run.seen("waited_grant") > 0, "no waiter was ever granted: " + run);
      } finally {
        brokers.forEach(TestBroker::close);
      }
    }
  }

  private static final class Client extends Participant {
    private final TestBroker broker;
    private JsonObject held;
    private long heldSent;
    private long heldReceived;
    private long aliveUntil;

    Client(String name, TestBroker broker, long seed, Recorder run) {
      super(name, seed, run);
      this.broker = broker;
    }

    void run(long end) {
      while (System.nanoTime() < end) {
        if (held == null) {
          acquire();
        } else {
          double r = rnd.nextDouble();
          if (r < 0.40) {
            renew();
          } else if (r < 0.70) {
            release();
          } else if (r < 0.75) {
            forceReleaseSomeone();
          } else {
            TestBroker.sleep(rnd.nextInt(150));
          }
        }
      }
      if (held != null) {
        release();
      }
    }

    private void acquire() {
      JsonObject req = new JsonObject().put("owner", name).put("purpose", "check").put("ttl_s", 1 + rnd.nextInt(2));
      int kind = rnd.nextInt(3);
      if (kind == 0) {
        req.put("gpu", 0);
      } else if (kind == 1) {
        req.put("gpu", 1).put("vram_mb", 500 + rnd.nextInt(4) * 500);
      } else if (rnd.nextBoolean()) {
        req.put("vram_mb", 1000);
      }
      boolean waits = rnd.nextBoolean();
      if (waits) {
        req.put("wait_s", 0.05 + rnd.nextDouble() * 0.5);
      }
      req.put("priority", List.of("low", "normal", "high").get(rnd.nextInt(3)));
      long sent = System.nanoTime();
      Reply r = broker.post("/v1/gpu/lease", req);
      long received = System.nanoTime();
      if (r.status() == 200) {
        held = r.json();
        heldSent = sent;
        heldReceived = received;
        aliveUntil = received;
        count(waits ? "waited_grant" : "grant");
      } else if (r.status() == 409) {
        count("busy");
      } else {
        count("acquire_" + r.status());
      }
    }

    private void renew() {
      long sent = System.nanoTime();
      Reply r = broker.post("/v1/gpu/renew", new JsonObject().put("token", held.getString("token")));
      if (r.status() == 200) {
        aliveUntil = sent;
        count("renewed");
      } else if (r.status() == 410) {
        count("lost");
        count(r.json().getString("reason"));
        record(aliveUntil);
      } else {
        throw new AssertionError(name + ": renew answered " + r);
      }
    }

    private void release() {
      long sent = System.nanoTime();
      Reply r = broker.post("/v1/gpu/release", new JsonObject().put("token", held.getString("token")));
      if (r.status() != 200) {
        throw new AssertionError(name + ": release answered " + r);
      }
      boolean released = r.json().getBoolean("released");
      count(released ? "released" : "lost");
      record(released ? sent : aliveUntil);
    }

    private void forceReleaseSomeone() {
      String victim = "c" + rnd.nextInt(CLIENTS);
      Reply r = broker.post("/v1/gpu/force_release", new JsonObject().put("owner", victim).put("reason", "check"));
      if (r.status() != 200) {
        throw new AssertionError(name + ": force_release answered " + r);
      }
      if (!r.json().getJsonArray("released").isEmpty()) {
        count("force_released");
      }
      if (victim.equals(name)) {
        // Our own lease may be gone now; we learn it on the next renew or release.
        count("self_force");
      }
    }

    private void record(long alive) {
      run.grant(new Grant(held.getLong("lease_id"), held.getInteger("gpu"), held.getInteger("vram_mb"),
          held.getBoolean("exclusive"), heldSent, heldReceived, alive, name));
      held = null;
    }

    private void count(String key) {
      run.count(key);
    }
  }
}
