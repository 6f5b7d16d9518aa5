package io.iqa.broker;

import io.iqa.testkit.BrokerProcess;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * kill -9 of a memory-store broker and a restart on the same port: with its state file it knows
 * every lease it had granted; without one it grants nothing until every lease it may have
 * forgotten has run out. Neither may grant a GPU that a holder still believes it holds.
 */
class BrokerRestartTest {

  private static JsonObject config() {
    return new JsonObject()
        .put("gpus", new JsonArray()
            .add(new JsonObject().put("index", 0).put("vram_mb", 0))
            .add(new JsonObject().put("index", 1).put("vram_mb", 1000)))
        .put("reaper_interval_ms", 200);
  }

  private static JsonObject lease(BrokerProcess b, JsonObject request) throws Exception {
    HttpResponse<String> r = b.post("/v1/gpu/lease", request);
    assertEquals(200, r.statusCode(), r.body());
    return new JsonObject(r.body());
  }

  private static int status(BrokerProcess b, String path, JsonObject body) throws Exception {
    return b.post(path, body).statusCode();
  }

  @Test
  void withItsStateFileARestartedBrokerKeepsEveryLeaseAndNeverDoubleGrants(@TempDir Path dir) throws Exception {
    Path state = dir.resolve("state/broker-state.jsonl");
    BrokerProcess first = new BrokerProcess(config().put("state_file", state.toString()), dir);
    JsonObject whole;
    JsonObject packed;
    JsonObject revoked;
    BrokerProcess second = null;
    try {
      whole = lease(first, new JsonObject().put("owner", "llm").put("gpu", 0).put("ttl_s", 60));
      packed = lease(first, new JsonObject().put("owner", "small").put("gpu", 1).put("vram_mb", 400).put("ttl_s", 60));
      revoked = lease(first, new JsonObject().put("owner", "batch").put("gpu", 1).put("vram_mb", 300).put("ttl_s", 60));
      assertEquals(200, status(first, "/v1/gpu/renew", new JsonObject().put("token", whole.getString("token"))));
      assertEquals(200, status(first, "/v1/gpu/force_release", new JsonObject().put("owner", "batch")));
      first.kill9();

      second = first.restart(false);
      assertEquals("ok", second.get("/health").getString("status"), "a broker that read its state is not recovering");
      JsonArray gpus = second.get("/v1/gpu/status").getJsonArray("gpus");
      assertEquals(whole.getLong("lease_id"), gpus.getJsonObject(0).getJsonArray("leases").getJsonObject(0)
          .getLong("lease_id"));
      assertEquals(300, gpus.getJsonObject(1).getInteger("free_vram_mb"), "both gpu 1 leases must be back");
      HttpResponse<String> busy = second.post("/v1/gpu/lease", new JsonObject().put("owner", "other").put("gpu", 0));
      assertEquals(409, busy.statusCode(), "gpu 0 granted twice after the restart: " + busy.body());
      assertEquals(200, status(second, "/v1/gpu/renew", new JsonObject().put("token", whole.getString("token"))),
          "the holder's lease must renew on the restarted broker");
      HttpResponse<String> stillRevoked = second.post("/v1/gpu/renew",
          new JsonObject().put("token", revoked.getString("token")));
      assertEquals(410, stillRevoked.statusCode(), "a revocation must survive the restart: " + stillRevoked.body());

      CompletableFuture<HttpResponse<String>> waiter = second.postAsync("/v1/gpu/lease",
          new JsonObject().put("owner", "next").put("gpu", 0).put("wait_s", 20));
      Thread.sleep(300);
      assertTrue(!waiter.isDone(), "the waiter was granted while the restored lease is held");
      second.post("/v1/gpu/release", new JsonObject().put("token", whole.getString("token")));
      JsonObject next = new JsonObject(waiter.get(20, TimeUnit.SECONDS).body());
      assertTrue(next.getLong("lease_id") > revoked.getLong("lease_id"), "lease ids went backwards: " + next);
      assertEquals(new JsonObject().put("released", true),
          new JsonObject(second.post("/v1/gpu/release", new JsonObject().put("token", packed.getString("token"))).body()));
      assertTrue(Files.size(state) > 0);
    } finally {
      first.close();
      if (second != null) {
        second.close();
      }
    }
  }

  /**
   * The state file keeps no clock reading a restart would trust: a restart whose wall clock stepped
   * by ten minutes either way (faketime) gives every restored lease its full ttl from its own now.
   * A live holder (a real process, identified by boot id and start ticks, not by a start instant
   * derived from the wall clock) keeps its lease and nobody else is granted its GPU; a holder that
   * stopped renewing loses it one ttl after the restart, not ten minutes early or late.
   */
  @ParameterizedTest
  @ValueSource(strings = {"+600s", "-600s"})
  void aRestartWithTheWallClockSteppedTenMinutesKeepsALiveHoldersLeaseAndGrantsItToNobodyElse(String step,
      @TempDir Path dir) throws Exception {
    Path state = dir.resolve("broker-state.jsonl");
    Process holder = new ProcessBuilder("sleep", "600").start();
    BrokerProcess first = new BrokerProcess(config().put("state_file", state.toString()), dir);
    BrokerProcess second = null;
    try {
      JsonObject live = lease(first, new JsonObject().put("owner", "llm").put("gpu", 0).put("ttl_s", 120)
          .put("pid", holder.pid()));
      JsonObject silent = lease(first, new JsonObject().put("owner", "gone").put("gpu", 1).put("ttl_s", 3));
      first.kill9();

      second = first.restart(false, step);
      long restarted = System.nanoTime();
      assertEquals("ok", second.get("/health").getString("status"));
      HttpResponse<String> other = second.post("/v1/gpu/lease", new JsonObject().put("owner", "other").put("gpu", 0));
      assertEquals(409, other.statusCode(), "the live holder's GPU was granted to another after a clock step of "
          + step + ": " + other.body());
      assertEquals(200, status(second, "/v1/gpu/renew", new JsonObject().put("token", live.getString("token"))),
          "the live holder lost its lease to a clock step of " + step);
      Thread.sleep(1000); // five reaper intervals: a holder check fooled by the step would have ended it
      assertEquals(200, status(second, "/v1/gpu/renew", new JsonObject().put("token", live.getString("token"))),
          "the live holder was taken for dead after a clock step of " + step);
      HttpResponse<String> next = second.post("/v1/gpu/lease",
          new JsonObject().put("owner", "next").put("gpu", 1).put("wait_s", 20));
      long handedOnMs = (System.nanoTime() - restarted) / 1_000_000;
      assertEquals(200, next.statusCode(), next.body());
      assertTrue(handedOnMs >= 2500 && handedOnMs < 6000, "the silent holder's lease (ttl 3 s) was handed on "
          + handedOnMs + " ms after a restart with a clock step of " + step + ": it must get one full ttl");
      assertEquals(200, status(second, "/v1/gpu/renew", new JsonObject().put("token", live.getString("token"))));
      assertEquals(410, status(second, "/v1/gpu/renew", new JsonObject().put("token", silent.getString("token"))),
          "the silent holder's lease must have expired");
    } finally {
      holder.destroyForcibly();
      first.close();
      if (second != null) {
        second.close();
      }
    }
  }

  /**
   * A restart during a recovery grace keeps the grace (the file says it runs), and --fresh is what
   * ends it: the operator's word that no lease from before can be alive.
   */
  @Test
  void aRestartDuringARecoveryGraceKeepsTheGraceAndFreshEndsIt(@TempDir Path dir) throws Exception {
    Path state = dir.resolve("broker-state.jsonl");
    BrokerProcess first = new BrokerProcess(config().put("state_file", state.toString()).put("recovery_grace_s", 60),
        dir);
    BrokerProcess second = null;
    BrokerProcess third = null;
    BrokerProcess fourth = null;
    try {
      lease(first, new JsonObject().put("owner", "llm").put("gpu", 0).put("ttl_s", 60));
      first.kill9();
      Files.write(state, new byte[0]); // what a power loss can leave with state_fsync false
      second = first.restart(false);
      JsonObject lost = second.get("/health");
      assertEquals("recovering", lost.getString("status"), "an empty state file is lost state: " + lost);
      second.kill9();
      third = second.restart(false);
      JsonObject again = third.get("/health");
      assertEquals("recovering", again.getString("status"), "a restart during the grace forgot it: " + again);
      assertEquals(409, third.post("/v1/gpu/lease", new JsonObject().put("owner", "other").put("gpu", 0)).statusCode());
      third.kill9();
      fourth = third.restart(true);
      assertEquals("ok", fourth.get("/health").getString("status"), "--fresh ends the grace");
      assertEquals(200, fourth.post("/v1/gpu/lease", new JsonObject().put("owner", "other").put("gpu", 0)).statusCode());
    } finally {
      for (BrokerProcess b : java.util.Arrays.asList(first, second, third, fourth)) {
        if (b != null) {
          b.close();
        }
      }
    }
  }

  @Test
  void withoutStateARestartedBrokerGrantsNothingUntilEveryForgottenLeaseHasRunOut(@TempDir Path dir)
      throws Exception {
    // max_ttl_s 3: no lease can outlive 3 s without a renew, so the recovery period is 3 s.
    JsonObject config = config().put("max_ttl_s", 3).put("default_ttl_s", 3).putNull("state_file");
    BrokerProcess first = new BrokerProcess(config, dir);
    BrokerProcess second = null;
    try {
      JsonObject held = lease(first, new JsonObject().put("owner", "llm").put("gpu", 0).put("ttl_s", 3));
      long renewSent = System.nanoTime();
      assertEquals(200, status(first, "/v1/gpu/renew", new JsonObject().put("token", held.getString("token"))));
      // The holder believes it holds gpu 0 until its own deadline: its last renew's send time + ttl.
      long holderDeadline = renewSent + 3_000_000_000L;
      first.kill9();

      second = first.restart(false);
      long restarted = System.nanoTime();
      JsonObject health = second.get("/health");
      assertEquals("recovering", health.getString("status"), health.encode());
      HttpResponse<String> refused = second.post("/v1/gpu/lease", new JsonObject().put("owner", "other").put("gpu", 0));
      assertEquals(409, refused.statusCode(), "granted a GPU a forgotten holder may still use: " + refused.body());
      HttpResponse<String> unknown = second.post("/v1/gpu/renew", new JsonObject().put("token", held.getString("token")));
      assertEquals(404, unknown.statusCode(), "the forgotten holder must hear that its lease is unknown: "
          + unknown.body());
      HttpResponse<String> granted = second.post("/v1/gpu/lease",
          new JsonObject().put("owner", "other").put("gpu", 0).put("wait_s", 20));
      long grantedAt = System.nanoTime();
      assertEquals(200, granted.statusCode(), granted.body());
      assertTrue(grantedAt > holderDeadline, "granted " + (holderDeadline - grantedAt) / 1_000_000
          + " ms before the forgotten holder's own deadline");
      assertTrue((grantedAt - restarted) / 1_000_000 < 6000, "the recovery period lasted much longer than max_ttl_s");
    } finally {
      first.close();
      if (second != null) {
        second.close();
      }
    }
  }
}
