package io.iqa.broker;

import io.iqa.testkit.BrokerProcess;
import io.iqa.testkit.RedisServer;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.broker.TestBroker.Reply;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Brokers and Redis die while leases are held and requests wait: nothing is double-granted or lost. */
class RedisFaultTest {

  private static JsonObject config(RedisServer redis, String prefix) {
    return new JsonObject()
        .put("gpus", new JsonArray()
            .add(new JsonObject().put("index", 0).put("vram_mb", 0))
            .add(new JsonObject().put("index", 1).put("vram_mb", 1000)))
        .put("reaper_interval_ms", 200)
        .put("store", new JsonObject().put("type", "redis").put("url", redis.url()).put("key_prefix", prefix));
  }

  @Test
  void killingOneBrokerWhileItHoldsWaitersLeavesTheOthersServing(@TempDir Path dir) throws Exception {
    try (RedisServer redis = new RedisServer();
        BrokerProcess a = new BrokerProcess(config(redis, "kill:"), dir);
        BrokerProcess b = new BrokerProcess(config(redis, "kill:"), dir)) {
      JsonObject holder = new JsonObject(b.post("/v1/gpu/lease", new JsonObject().put("owner", "holder").put("gpu", 0)
          .put("ttl_s", 60)).body());
      CompletableFuture<HttpResponse<String>> onA = a.postAsync("/v1/gpu/lease",
          new JsonObject().put("owner", "waiter-on-a").put("gpu", 0).put("wait_s", 30));
      awaitWaiting(b, 1);

      a.kill9();
      ExecutionException gone = assertThrows(ExecutionException.class, () -> onA.get(10, TimeUnit.SECONDS),
          "the dead broker's client must get an error, not hang");
      assertTrue(gone.getCause() instanceof java.io.IOException, "expected a connection error, got " + gone.getCause());

      CompletableFuture<HttpResponse<String>> onB = b.postAsync("/v1/gpu/lease",
          new JsonObject().put("owner", "waiter-on-b").put("gpu", 0).put("wait_s", 30));
      HttpResponse<String> released = b.post("/v1/gpu/release", new JsonObject().put("token", holder.getString("token")));
      assertEquals(200, released.statusCode());
      // The dead broker's queued request stops being heart-beaten and leaves the queue within seconds.
      HttpResponse<String> granted = onB.get(20, TimeUnit.SECONDS);
      assertEquals(200, granted.statusCode(), granted.body());
      JsonObject status = b.get("/v1/gpu/status");
      JsonObject gpu0 = status.getJsonArray("gpus").getJsonObject(0);
      assertEquals("waiter-on-b", gpu0.getJsonArray("leases").getJsonObject(0).getString("owner"));
      assertTrue(gpu0.getJsonArray("waiting").isEmpty(), "the dead broker's waiter is still queued: " + gpu0);
    }
  }

  @Test
  void redisKilledAndRestartedWithItsDataKeepsLeasesAndNeverDoubleGrants() throws Exception {
    try (RedisServer redis = new RedisServer(); TestBroker broker = new TestBroker(config(redis, "restart:"))) {
      JsonObject held = broker.lease(new JsonObject().put("owner", "holder").put("gpu", 0).put("ttl_s", 60));

      redis.kill();
      Reply refused = broker.post("/v1/gpu/lease", new JsonObject().put("owner", "other").put("gpu", 1));
      assertEquals(503, refused.status(), "no grant without Redis: " + refused);
      assertEquals("store_unavailable", refused.json().getString("error"));
      assertTrue(refused.json().getString("message").contains(redis.url()), refused.json().getString("message"));
      assertEquals(503, broker.post("/v1/gpu/renew", new JsonObject().put("token", held.getString("token"))).status());
      Reply health = broker.get("/health");
      assertEquals(503, health.status());
      assertFalse(health.json().getBoolean("store_ok"));

      redis.start();
      Reply renewed = broker.renewWhile(held, 503, 15_000);
      assertEquals(200, renewed.status(), "the lease Redis kept must renew after the restart: " + renewed);
      Reply busy = broker.post("/v1/gpu/lease", new JsonObject().put("owner", "other").put("gpu", 0));
      assertEquals(409, busy.status(), "gpu 0 granted twice after the Redis restart: " + busy);
      JsonObject next = broker.lease(new JsonObject().put("owner", "other").put("gpu", 1));
      assertTrue(next.getLong("lease_id") > held.getLong("lease_id"), "lease ids went backwards after the restart");
      assertEquals(200, broker.get("/health").status());
    }
  }

  /**
   * Round 2 (read in the code): Redis calls had no timeout, so a paused Redis hung every lease call
   * for as long as it was paused. Now each call fails as 503 store_unavailable within
   * store.command_timeout_ms, and the broker serves again the moment Redis wakes.
   */
  @Test
  void aPausedRedisGives503WithinTheTimeoutAndTheBrokerServesAgainWhenItWakes() throws Exception {
    try (RedisServer redis = new RedisServer()) {
      JsonObject config = config(redis, "paused:");
      config.getJsonObject("store").put("command_timeout_ms", 1000);
      try (TestBroker broker = new TestBroker(config)) {
        JsonObject held = broker.lease(new JsonObject().put("owner", "holder").put("gpu", 0).put("ttl_s", 60));
        redis.pause();
        try {
          for (String what : List.of("renew", "lease", "health")) {
            long t0 = System.nanoTime();
            Reply r = switch (what) {
              case "renew" -> broker.post("/v1/gpu/renew", new JsonObject().put("token", held.getString("token")));
              case "lease" -> broker.post("/v1/gpu/lease", new JsonObject().put("owner", "other").put("gpu", 1));
              default -> broker.get("/health");
            };
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertEquals(503, r.status(), what + ": " + r);
            assertTrue(ms < 3000, what + " took " + ms + " ms against a paused Redis (timeout 1000 ms)");
            if (!what.equals("health")) {
              assertEquals("store_unavailable", r.json().getString("error"));
              assertTrue(r.json().getString("message").contains("command_timeout_ms"), r.toString());
            }
          }
        } finally {
          redis.resume();
        }
        Reply renewed = null;
        long deadline = System.nanoTime() + 15_000_000_000L;
        while (System.nanoTime() < deadline) {
          renewed = broker.post("/v1/gpu/renew", new JsonObject().put("token", held.getString("token")));
          if (renewed.status() == 200) {
            break;
          }
          TestBroker.sleep(100);
        }
        assertEquals(200, renewed.status(), "the lease must renew once Redis wakes: " + renewed);
      }
    }
  }

  @Test
  void aBrokerRestartKeepsEveryLease() throws Exception {
    try (RedisServer redis = new RedisServer()) {
      JsonObject whole;
      JsonObject packed;
      try (TestBroker first = new TestBroker(config(redis, "same:"))) {
        whole = first.lease(new JsonObject().put("owner", "a").put("gpu", 0).put("ttl_s", 60));
        packed = first.lease(new JsonObject().put("owner", "b").put("gpu", 1).put("vram_mb", 400).put("ttl_s", 60));
      }
      try (TestBroker second = new TestBroker(config(redis, "same:"))) {
        JsonArray gpus = second.get("/v1/gpu/status").json().getJsonArray("gpus");
        assertEquals(whole.getLong("lease_id"), gpus.getJsonObject(0).getJsonArray("leases").getJsonObject(0)
            .getLong("lease_id"));
        assertEquals(600, gpus.getJsonObject(1).getInteger("free_vram_mb"));
        for (JsonObject lease : new JsonObject[] {whole, packed}) {
          assertEquals(200, second.post("/v1/gpu/renew", new JsonObject().put("token", lease.getString("token")))
              .status());
          assertEquals(new JsonObject().put("released", true),
              second.post("/v1/gpu/release", new JsonObject().put("token", lease.getString("token"))).json());
        }
      }
    }
  }

  @Test
  void aRedisThatLostItsDataGrantsNothingUntilEveryForgottenLeaseRanOut() throws Exception {
    try (RedisServer redis = new RedisServer()) {
      JsonObject conf = config(redis, "lost:").put("recovery_grace_s", 2);
      try (TestBroker broker = new TestBroker(conf)) {
        JsonObject held = broker.lease(new JsonObject().put("owner", "holder").put("gpu", 0).put("ttl_s", 2));
        redis.kill();
        try (var files = java.nio.file.Files.list(redis.dir)) {
          for (Path f : files.toList()) {
            if (!f.getFileName().toString().equals("redis.log")) {
              deleteTree(f);
            }
          }
        }
        redis.start(); // empty: as if it ran without persistence
        long restarted = System.nanoTime();
        Reply refused = null;
        for (int i = 0; i < 100; i++) {
          refused = broker.post("/v1/gpu/lease", new JsonObject().put("owner", "other").put("gpu", 0));
          if (refused.status() != 503) {
            break;
          }
          TestBroker.sleep(50);
        }
        assertEquals(409, refused.status(), "a Redis without its state must not grant at once: " + refused);
        assertTrue(refused.json().containsKey("recovering_until"), refused.toString());
        assertEquals(404, broker.post("/v1/gpu/renew", new JsonObject().put("token", held.getString("token"))).status(),
            "the forgotten holder hears at once that its lease is unknown");
        assertEquals("recovering", broker.get("/health").json().getString("status"));
        JsonObject next = broker.lease(new JsonObject().put("owner", "other").put("gpu", 0).put("wait_s", 10));
        assertTrue((System.nanoTime() - restarted) / 1_000_000 >= 1500, "granted inside the recovery period");
        assertTrue(next.getLong("lease_id") > held.getLong("lease_id"), "lease ids went backwards: " + next);
      }
    }
  }

  /**
   * After a FLUSHALL under two running brokers each had handed out ids the other had not seen
   * (read from its own answers only), so the first to grant again reused the other's: lease_id 6
   * came twice. Every broker now keeps the highest id of every event it hears as its floor, and a
   * lost state continues above the Unix time too.
   */
  @Test
  void afterAFlushallUnderTwoBrokersNoLeaseIdIsHandedOutTwice() throws Exception {
    try (RedisServer redis = new RedisServer()) {
      JsonObject conf = config(redis, "flush:").put("recovery_grace_s", 1);
      try (TestBroker a = new TestBroker(conf); TestBroker b = new TestBroker(conf)) {
        java.util.Set<Long> seen = new java.util.HashSet<>();
        for (TestBroker x : java.util.List.of(a, a, a, b, b, b)) {
          JsonObject l = x.lease(new JsonObject().put("owner", "o").put("gpu", 0));
          seen.add(l.getLong("lease_id"));
          x.post("/v1/gpu/release", new JsonObject().put("token", l.getString("token")));
        }
        long highest = java.util.Collections.max(seen);
        TestBroker.sleep(300); // pub/sub: each broker hears the other's grants
        assertTrue(redis.command("FLUSHALL").startsWith("+OK"));
        for (TestBroker x : java.util.List.of(a, b, a, b)) {
          Reply r = x.post("/v1/gpu/lease", new JsonObject().put("owner", "after").put("gpu", 0).put("wait_s", 10));
          assertEquals(200, r.status(), r.toString());
          long id = r.json().getLong("lease_id");
          assertTrue(id > highest && seen.add(id), "lease_id " + id + " handed out again after the FLUSHALL (seen "
              + seen + ")");
          x.post("/v1/gpu/release", new JsonObject().put("token", r.json().getString("token")));
        }
      }
    }
  }

  /**
   * The Redis store decides by a clock of its own in Redis, moved by the brokers' monotonic clocks:
   * Redis's wall clock stepping ten minutes forward expires nothing, stepping ten minutes back
   * extends nothing. (Redis's TIME, the old clock, did both.) The step is a preloaded shim
   * (clockstep.c): Debian's redis-server does not start under libfaketime.
   */
  @Test
  void aStepOfRedisWallClockEitherWayMovesNoDeadline(@TempDir Path dir) throws Exception {
    Path shim = dir.resolve("clockstep.so");
    Path source = dir.resolve("clockstep.c");
    try (var in = RedisFaultTest.class.getResourceAsStream("clockstep.c")) {
      java.nio.file.Files.write(source, in.readAllBytes());
    }
    Process cc;
    try {
      cc = new ProcessBuilder("gcc", "-shared", "-fPIC", "-O2", "-o", shim.toString(), source.toString())
          .redirectErrorStream(true).start();
    } catch (java.io.IOException e) {
      throw new org.opentest4j.TestAbortedException("no gcc to build the clock-step shim: " + e.getMessage());
    }
    org.junit.jupiter.api.Assumptions.assumeTrue(cc.waitFor(60, TimeUnit.SECONDS) && cc.exitValue() == 0,
        "the clock-step shim did not build: " + new String(cc.getInputStream().readAllBytes()));
    Path step = dir.resolve("step");
    java.nio.file.Files.writeString(step, "0");
    try (RedisServer redis = new RedisServer(java.util.Map.of("LD_PRELOAD", shim.toString(),
        "CLOCKSTEP_FILE", step.toString()))) {
      try (TestBroker broker = new TestBroker(config(redis, "step:"))) {
        JsonObject held = broker.lease(new JsonObject().put("owner", "holder").put("gpu", 0).put("ttl_s", 4));
        JsonObject token = new JsonObject().put("token", held.getString("token"));
        java.nio.file.Files.writeString(step, "600");
        TestBroker.sleep(1000);
        Reply renewed = broker.post("/v1/gpu/renew", token);
        assertEquals(200, renewed.status(), "Redis's clock stepped 10 minutes forward expired a live lease: " + renewed);
        assertEquals(409, broker.post("/v1/gpu/lease", new JsonObject().put("owner", "other").put("gpu", 0)).status());
        java.nio.file.Files.writeString(step, "-600");
        long lastRenew = System.nanoTime();
        assertEquals(200, broker.post("/v1/gpu/renew", token).status());
        // No more renews: the lease must run out 4 s from now, not 10 minutes later.
        Reply next = broker.post("/v1/gpu/lease", new JsonObject().put("owner", "other").put("gpu", 0).put("wait_s", 15));
        long afterMs = (System.nanoTime() - lastRenew) / 1_000_000;
        assertEquals(200, next.status(), "a lease whose holder stopped renewing was not handed on after Redis's clock "
            + "stepped back: " + next);
        assertTrue(afterMs >= 3500 && afterMs < 8000, "handed on " + afterMs + " ms after the last renew of a 4 s lease");
      }
    }
  }

  private static void deleteTree(Path p) throws java.io.IOException {
    if (java.nio.file.Files.isDirectory(p)) {
      try (var children = java.nio.file.Files.list(p)) {
        for (Path c : children.toList()) {
          deleteTree(c);
        }
      }
    }
    java.nio.file.Files.delete(p);
  }

  private static void awaitWaiting(BrokerProcess b, int n) throws Exception {
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (System.nanoTime() < deadline) {
      if (b.get("/v1/gpu/status").getJsonArray("gpus").getJsonObject(0).getJsonArray("waiting").size() == n) {
        return;
      }
      TestBroker.sleep(20);
    }
    throw new AssertionError("never saw " + n + " waiter(s)");
  }
}
