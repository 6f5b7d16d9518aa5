package io.iqa.broker;

import io.iqa.testkit.Cleanup;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.iqa.broker.TestBroker.Reply;
import io.iqa.protocol.Sha256;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashSet;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * The v1 broker contract, run against a real broker on a free port. Each store runs this same class
 * through a subclass that only says how to configure the store.
 */
abstract class LeaseBrokerContractTest {

  /** The {@code store} config block for the store under test. */
  abstract JsonObject storeConfig();

  /**
   * The store of a broker just started (not --fresh) loses its lease state: a memory store without a
   * state file never had any to read; a Redis loses its keys under the running broker.
   */
  abstract void loseLeaseState() throws Exception;

  @AutoClose
  final Cleanup cleanup = new Cleanup();

  /** gpu 0: whole device only; gpu 1: 8000 MB for packing. Reaper slow, so wake-ups must be events. */
  TestBroker broker(JsonObject overrides) {
    JsonObject config = new JsonObject()
        .put("gpus", new JsonArray()
            .add(new JsonObject().put("index", 0).put("vram_mb", 0))
            .add(new JsonObject().put("index", 1).put("vram_mb", 8000)))
        .put("reaper_interval_ms", 60_000)
        .put("store", storeConfig())
        .mergeIn(overrides);
    return cleanup.add(new TestBroker(config));
  }

  /**
   * A broker with auth on: for each name and role, a token {@code <name>-secret} of that name and
   * role ({@code client} holders may use only their own owner name).
   */
  TestBroker authBroker(String... namesAndRoles) {
    JsonArray tokens = new JsonArray();
    for (int i = 0; i < namesAndRoles.length; i += 2) {
      String name = namesAndRoles[i];
      tokens.add(new JsonObject().put("name", name).put("token_sha256", Sha256.hex(name + "-secret"))
          .put("role", namesAndRoles[i + 1]));
    }
    return broker(new JsonObject().put("auth", new JsonObject().put("tokens", tokens)));
  }

  TestBroker broker() {
    return broker(new JsonObject());
  }

  /** @return the answer to come of a request named "waiter" for {@code gpu}, once it waits in the queue */
  static Future<Reply> waiterFor(TestBroker b, int gpu) {
    Future<Reply> waiter = b.postAsync("/v1/gpu/lease", req("waiter").put("gpu", gpu).put("wait_s", 20));
    b.awaitWaiting(1);
    return waiter;
  }

  static JsonObject req(String owner) {
    return new JsonObject().put("owner", owner).put("purpose", "test");
  }

  static JsonObject token(JsonObject lease) {
    return new JsonObject().put("token", lease.getString("token"));
  }

  @Test
  void wholeDeviceLeaseIsExclusiveAndBusyAnswerShowsHoldersWithoutTokens() {
    TestBroker b = broker();
    JsonObject lease = b.lease(req("alice").put("gpu", 0));
    for (String field : List.of("lease_id", "token", "gpu", "owner", "purpose", "vram_mb", "granted_at", "expires_at",
        "ttl_s")) {
      assertTrue(lease.containsKey(field), "lease answer lacks " + field + ": " + lease);
    }
    assertEquals(300.0, lease.getDouble("ttl_s"), "default ttl_s");
    assertTrue(lease.getBoolean("exclusive"));

    Reply busy = b.post("/v1/gpu/lease", req("bob").put("gpu", 0));
    assertEquals(409, busy.status(), busy.toString());
    assertEquals("gpu_busy", busy.json().getString("error"));
    assertEquals(1, busy.json().getInteger("queue_position"));
    JsonObject holder = busy.json().getJsonArray("holders").getJsonObject(0);
    assertEquals("alice", holder.getString("owner"));
    assertFalse(busy.body().toString().contains(lease.getString("token")), "busy answer leaks the holder's token");
    assertFalse(holder.containsKey("token"));
  }

  @Test
  void vramLeasesPackWhileTheySumWithinCapacityAndWholeDeviceWaitsForAll() {
    TestBroker b = broker();
    JsonObject a = b.lease(req("a").put("gpu", 1).put("vram_mb", 3000));
    JsonObject c = b.lease(req("c").put("gpu", 1).put("vram_mb", 3000));
    assertEquals(409, b.post("/v1/gpu/lease", req("over").put("gpu", 1).put("vram_mb", 3000)).status(),
        "6000 + 3000 MB must not fit in 8000 MB");
    JsonObject d = b.lease(req("d").put("gpu", 1).put("vram_mb", 2000));
    JsonObject gpu1 = b.get("/v1/gpu/status").json().getJsonArray("gpus").getJsonObject(1);
    assertEquals(0, gpu1.getInteger("free_vram_mb"));
    assertEquals(3, gpu1.getJsonArray("leases").size());

    Future<Reply> whole = b.postAsync("/v1/gpu/lease", req("whole").put("gpu", 1).put("wait_s", 20));
    b.awaitWaiting(1);
    b.post("/v1/gpu/release", token(a));
    b.post("/v1/gpu/release", token(c));
    assertEquals(409, b.post("/v1/gpu/lease", req("late").put("gpu", 1).put("vram_mb", 1000)).status(),
        "a new small request must not jump ahead of the queued whole-device request");
    TestBroker.sleep(100);
    assertFalse(whole.isComplete(), "whole-device request granted while a vram lease was still held");
    b.post("/v1/gpu/release", token(d));
    Reply granted = TestBroker.await(whole);
    assertEquals(200, granted.status(), granted.toString());
    assertTrue(granted.json().getBoolean("exclusive"));
    assertEquals(8000, granted.json().getInteger("vram_mb"));
  }

  @Test
  void requestForAnyGpuTakesAFreeDevice() {
    TestBroker b = broker(new JsonObject().put("gpus", new JsonArray()
        .add(new JsonObject().put("index", 0).put("vram_mb", 0))
        .add(new JsonObject().put("index", 1).put("vram_mb", 0))));
    assertEquals(0, b.lease(req("a")).getInteger("gpu"));
    assertEquals(1, b.lease(req("b")).getInteger("gpu"));
    Reply busy = b.post("/v1/gpu/lease", req("c"));
    assertEquals(409, busy.status());
    assertEquals(2, busy.json().getJsonArray("holders").size());
  }

  @Test
  void waitersAreGrantedFifoAndAReleaseWakesTheNextAtOnce() throws Exception {
    TestBroker b = broker();
    JsonObject holder = b.lease(req("holder").put("gpu", 0));
    List<Future<Reply>> waiters = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      waiters.add(b.postAsync("/v1/gpu/lease", req("w" + i).put("gpu", 0).put("wait_s", 30)));
      b.awaitWaiting(i + 1);
    }
    JsonObject current = holder;
    for (int i = 0; i < 3; i++) {
      long released = System.nanoTime();
      b.post("/v1/gpu/release", token(current));
      Reply r = TestBroker.await(waiters.get(i));
      long handoffMs = (System.nanoTime() - released) / 1_000_000;
      assertEquals(200, r.status(), "waiter " + i + ": " + r);
      assertEquals("w" + i, r.json().getString("owner"), "FIFO order broken");
      // The reaper runs once a minute here: only an event-driven wake-up is this quick.
      assertTrue(handoffMs < 2000, "hand-off took " + handoffMs + " ms");
      for (int j = i + 1; j < 3; j++) {
        assertFalse(waiters.get(j).isComplete(), "waiter " + j + " granted out of turn");
      }
      current = r.json();
    }
  }

  @Test
  void higherPriorityWaiterIsServedBeforeAnEarlierNormalOne() {
    TestBroker b = broker();
    JsonObject holder = b.lease(req("holder").put("gpu", 0));
    Future<Reply> normal = b.postAsync("/v1/gpu/lease", req("normal").put("gpu", 0).put("wait_s", 30));
    b.awaitWaiting(1);
    Future<Reply> high = b.postAsync("/v1/gpu/lease", req("high").put("gpu", 0).put("wait_s", 30).put("priority", "high"));
    b.awaitWaiting(2);
    b.post("/v1/gpu/release", token(holder));
    Reply first = TestBroker.await(high);
    assertEquals(200, first.status());
    assertFalse(normal.isComplete());
    b.post("/v1/gpu/release", token(first.json()));
    assertEquals("normal", TestBroker.await(normal).json().getString("owner"));
  }

  @Test
  void agingLetsALongWaitingLowPriorityRequestGoBeforeAFreshHighOne() {
    TestBroker b = broker(new JsonObject().put("priority_aging_s", 0.25));
    JsonObject holder = b.lease(req("holder").put("gpu", 0));
    Future<Reply> low = b.postAsync("/v1/gpu/lease", req("low").put("gpu", 0).put("wait_s", 30).put("priority", "low"));
    b.awaitWaiting(1);
    TestBroker.sleep(1000); // low has aged by four levels: above a fresh "high"
    Future<Reply> high = b.postAsync("/v1/gpu/lease", req("high").put("gpu", 0).put("wait_s", 30).put("priority", "high"));
    b.awaitWaiting(2);
    b.post("/v1/gpu/release", token(holder));
    Reply first = TestBroker.await(low);
    assertEquals(200, first.status(), "aged low-priority waiter should be granted first: " + first);
    assertFalse(high.isComplete());
    b.post("/v1/gpu/release", token(first.json()));
    assertEquals(200, TestBroker.await(high).status());
  }

  @Test
  void expiryWakesAWaiterWithoutWaitingForTheReaper() {
    TestBroker b = broker();
    b.lease(req("forgetful").put("gpu", 0).put("ttl_s", 1));
    long start = System.nanoTime();
    Reply r = b.post("/v1/gpu/lease", req("next").put("gpu", 0).put("wait_s", 20));
    long waitedMs = (System.nanoTime() - start) / 1_000_000;
    assertEquals(200, r.status(), r.toString());
    assertTrue(waitedMs >= 500 && waitedMs < 5000, "granted after " + waitedMs + " ms; expected about 1 s");
  }

  @Test
  void waitThatRunsOutAnswersBusyAndLeavesTheQueue() {
    TestBroker b = broker();
    b.lease(req("holder").put("gpu", 0));
    long start = System.nanoTime();
    Reply r = b.post("/v1/gpu/lease", req("patient").put("gpu", 0).put("wait_s", 0.3));
    assertEquals(409, r.status());
    assertTrue((System.nanoTime() - start) / 1_000_000 >= 250, "answered before wait_s ran out");
    b.awaitWaiting(0);
  }

  @Test
  void aWaiterWhoseClientDisconnectsLeavesTheQueueAndGetsNoLease() {
    TestBroker b = broker();
    JsonObject holder = b.lease(req("holder").put("gpu", 0));
    HttpClient other = b.vertx.createHttpClient(new HttpClientOptions().setDefaultHost("127.0.0.1").setDefaultPort(b.port));
    TestBroker.sendAsync(other, HttpMethod.POST, "/v1/gpu/lease",
        Buffer.buffer(req("gone").put("gpu", 0).put("wait_s", 30).encode()), null);
    b.awaitWaiting(1);
    other.close().await();
    b.awaitWaiting(0);
    b.post("/v1/gpu/release", token(holder));
    TestBroker.sleep(200);
    JsonArray leases = b.get("/v1/gpu/status").json().getJsonArray("gpus").getJsonObject(0).getJsonArray("leases");
    assertEquals(0, leases.size(), "a lease was granted to a client that had gone: " + leases);
  }

  @Test
  void renewExtendsAndALeaseNotRenewedExpiresWithReason() {
    TestBroker b = broker();
    JsonObject lease = b.lease(req("heart").put("gpu", 0).put("ttl_s", 1));
    for (int i = 0; i < 5; i++) {
      TestBroker.sleep(400);
      Reply renewed = b.post("/v1/gpu/renew", token(lease));
      assertEquals(200, renewed.status(), "renew " + i + ": " + renewed);
      assertEquals(lease.getLong("lease_id"), renewed.json().getLong("lease_id"));
      assertFalse(renewed.json().containsKey("token"), "renew must not echo the token");
    }
    Reply longer = b.post("/v1/gpu/renew", token(lease).put("ttl_s", 2));
    assertEquals(2.0, longer.json().getDouble("ttl_s"));
    TestBroker.sleep(2300);
    Reply lost = b.post("/v1/gpu/renew", token(lease));
    assertEquals(410, lost.status(), lost.toString());
    assertEquals("lease_lost", lost.json().getString("error"));
    assertEquals("expired", lost.json().getString("reason"));
    Reply release = b.post("/v1/gpu/release", token(lease));
    assertEquals(200, release.status());
    assertEquals(new JsonObject().put("released", false).put("reason", "expired"), release.json());
  }

  @Test
  void releaseIsIdempotentAndAnUnknownTokenIsNotFound() {
    TestBroker b = broker();
    JsonObject lease = b.lease(req("a").put("gpu", 0));
    assertEquals(new JsonObject().put("released", true), b.post("/v1/gpu/release", token(lease)).json());
    Reply again = b.post("/v1/gpu/release", token(lease));
    assertEquals(200, again.status());
    assertEquals(new JsonObject().put("released", false).put("reason", "released"), again.json());
    Reply renew = b.post("/v1/gpu/renew", token(lease));
    assertEquals(410, renew.status());
    assertEquals("released", renew.json().getString("reason"));
    Reply unknown = b.post("/v1/gpu/release", new JsonObject().put("token", "never-issued"));
    assertEquals(404, unknown.status());
    assertEquals("unknown_lease", unknown.json().getString("error"));
    assertEquals(404, b.post("/v1/gpu/renew", new JsonObject().put("token", "never-issued")).status());
  }

  @Test
  void staleLeaseIsRevokedOnlyWhenSomeoneWantsItsGpuAndHandedOnWhenItsHolderReleases() {
    TestBroker b = broker(new JsonObject().put("stale_max_age_s", 1));
    JsonObject old = b.lease(req("old").put("gpu", 0).put("ttl_s", 60));
    TestBroker.sleep(1300);
    JsonArray leases = b.get("/v1/gpu/status").json().getJsonArray("gpus").getJsonObject(0).getJsonArray("leases");
    assertEquals(1, leases.size(), "a stale lease nobody waits for must stay");
    assertEquals("held", leases.getJsonObject(0).getString("state"));

    Reply busy = b.post("/v1/gpu/lease", req("fresh").put("gpu", 0));
    assertEquals(409, busy.status(), "a stale lease is revoked, not freed, while its holder may still use the GPU: "
        + busy);
    JsonObject holder = busy.json().getJsonArray("holders").getJsonObject(0);
    assertEquals("revoking", holder.getString("state"));
    assertEquals("stale", holder.getString("revoked"));
    Reply lost = b.post("/v1/gpu/renew", token(old));
    assertEquals(410, lost.status());
    assertEquals("stale", lost.json().getString("reason"));
    assertTrue(eventTypes(b).contains("stale"));

    Future<Reply> waiter = waiterFor(b, 0);
    TestBroker.sleep(200);
    assertFalse(waiter.isComplete(), "granted before the stale holder confirmed or its lease expired");
    assertEquals(new JsonObject().put("released", true).put("revoked", "stale"),
        b.post("/v1/gpu/release", token(old)).json());
    long confirmed = System.nanoTime();
    Reply granted = TestBroker.await(waiter);
    assertEquals(200, granted.status(), granted.toString());
    assertTrue((System.nanoTime() - confirmed) / 1_000_000 < 2000, "the hand-off after the holder released was slow");
    assertTrue(eventTypes(b).contains(io.iqa.broker.store.LeaseEventType.REVOKE_CONFIRMED.wireName()), eventTypes(b).toString());
  }

  @Test
  void aForceReleasedLeaseKeepsItsGpuUntilItsHolderReleasesAndTheWaiterIsGrantedThen() {
    TestBroker b = broker();
    JsonObject held = b.lease(req("holder").put("gpu", 0).put("ttl_s", 60));
    Future<Reply> waiter = waiterFor(b, 0);
    Reply fr = b.post("/v1/gpu/force_release",
        new JsonObject().put("lease_id", held.getLong("lease_id")).put("reason", "llm needs it"));
    assertEquals(200, fr.status(), fr.toString());
    JsonObject revoked = fr.json().getJsonArray("released").getJsonObject(0);
    assertEquals("revoking", revoked.getString("state"));
    assertEquals("force_released", revoked.getString("revoked"));
    JsonObject shown = b.get("/v1/gpu/status").json().getJsonArray("gpus").getJsonObject(0).getJsonArray("leases")
        .getJsonObject(0);
    assertEquals("revoking", shown.getString("state"), "status must show the lease until its holder stopped");

    TestBroker.sleep(300);
    assertFalse(waiter.isComplete(), "the waiter was granted while the revoked holder may still use the GPU");
    Reply renew = b.post("/v1/gpu/renew", token(held));
    assertEquals(410, renew.status());
    assertEquals("force_released", renew.json().getString("reason"));
    assertEquals(new JsonObject().put("released", true).put("revoked", "force_released"),
        b.post("/v1/gpu/release", token(held)).json());
    assertEquals(200, TestBroker.await(waiter).status());
    assertEquals(new JsonObject().put("released", false).put("reason", "force_released"),
        b.post("/v1/gpu/release", token(held)).json());

    JsonArray events = b.get("/v1/gpu/events").json().getJsonArray("events");
    JsonObject revocation = events.stream().map(JsonObject.class::cast)
        .filter(e -> e.getString("type").equals("force_released")).findFirst().orElseThrow();
    assertEquals(false, revocation.getBoolean("immediate"));
    assertEquals(held.getString("expires_at"), revocation.getString("handoff_at"),
        "the latest hand-off is the revoked lease's expires_at");
    assertTrue(eventTypes(b).contains(io.iqa.broker.store.LeaseEventType.REVOKE_CONFIRMED.wireName()));
  }

  @Test
  void aRevokedLeaseWhoseHolderNeverConfirmsIsHandedOnAtItsExpiresAt() {
    TestBroker b = broker();
    JsonObject held = b.lease(req("hung").put("gpu", 0).put("ttl_s", 1.5));
    Future<Reply> waiter = waiterFor(b, 0);
    long revokedAt = System.nanoTime();
    b.post("/v1/gpu/force_release", new JsonObject().put("owner", "hung"));
    Reply granted = TestBroker.await(waiter);
    long waitedMs = (System.nanoTime() - revokedAt) / 1_000_000;
    assertEquals(200, granted.status(), granted.toString());
    assertTrue(waitedMs >= 900 && waitedMs < 5000, "handed on after " + waitedMs + " ms; expected at expires_at");
    assertTrue(eventTypes(b).contains(io.iqa.broker.store.LeaseEventType.REVOKE_EXPIRED.wireName()), eventTypes(b).toString());
    assertEquals("force_released", b.post("/v1/gpu/renew", token(held)).json().getString("reason"));
  }

  @Test
  void onlyAnAdminMayForceReleaseImmediatelyAndThatHandsTheGpuOnAtOnce() {
    TestBroker b = authBroker("alice", "client", "ops", "admin");
    JsonObject hung = b.post("/v1/gpu/lease", req("alice").put("gpu", 0).put("ttl_s", 60), "alice-secret").json();
    Reply refused = b.post("/v1/gpu/force_release",
        new JsonObject().put("owner", "alice").put("immediate", true), "alice-secret");
    assertEquals(403, refused.status(), refused.toString());
    Future<Reply> waiter = TestBroker.sendAsync(b.http, HttpMethod.POST, "/v1/gpu/lease",
        Buffer.buffer(req("ops").put("gpu", 0).put("wait_s", 20).encode()), "ops-secret");
    TestBroker.sleep(300);
    long t0 = System.nanoTime();
    Reply now = b.post("/v1/gpu/force_release", new JsonObject().put("lease_id", hung.getLong("lease_id"))
        .put("immediate", true).put("reason", "holder hung"), "ops-secret");
    assertEquals(200, now.status(), now.toString());
    assertEquals(200, TestBroker.await(waiter).status());
    assertTrue((System.nanoTime() - t0) / 1_000_000 < 2000, "an immediate force-release must hand on at once");
    JsonObject event = b.get("/v1/gpu/events", "ops-secret").json().getJsonArray("events").stream()
        .map(JsonObject.class::cast).filter(e -> e.getString("type").equals("force_released")).findFirst().orElseThrow();
    assertEquals(true, event.getBoolean("immediate"), "the event must say the wait was skipped: " + event);
    assertEquals("ops", event.getString("by"));
    // Round 2: the answer showed the lease it had just ended as "held".
    JsonObject answered = now.json().getJsonArray("released").getJsonObject(0);
    assertEquals("revoking", answered.getString("state"), answered.encode());
    assertEquals("force_released", answered.getString("revoked"), answered.encode());
  }

  /** Round 2: a watch of a lease past its expires_at, before the reaper came by, answered 200 held. */
  @Test
  void aLeasePastItsExpiryIsNeverWatchedAsHeldWhateverTheReaperDid() {
    TestBroker b = broker(); // its reaper runs once a minute
    JsonObject held = b.lease(req("short").put("gpu", 0).put("ttl_s", 1));
    TestBroker.sleep(1500);
    TestBroker.Watch watch = b.watch(held.getString("token"));
    assertEquals(410, watch.status, "an expired lease must be 410 lease_lost, not held");
  }

  @Test
  void theHolderHearsOfItsRevocationOnTheWatchChannelAtOnce() {
    TestBroker b = broker();
    assertEquals(400, b.watch(null).status, "a watch without Lease-Token is a bad request");
    assertEquals(404, b.watch("never-issued").status);
    JsonObject held = b.lease(req("watched").put("gpu", 0).put("ttl_s", 60));
    TestBroker.Watch watch = b.watch(held.getString("token"));
    assertEquals(200, watch.status);
    JsonObject first = watch.next(5000);
    assertEquals("lease", first.getString("event"));
    assertEquals("held", first.getJsonObject("data").getString("state"));
    assertFalse(first.encode().contains(held.getString("token")), "the watch must not echo the token");

    long t0 = System.nanoTime();
    b.post("/v1/gpu/force_release", new JsonObject().put("owner", "watched").put("reason", "maintenance"));
    JsonObject revoked = watch.next(1000);
    long heardMs = (System.nanoTime() - t0) / 1_000_000;
    assertEquals("revoked", revoked.getString("event"), revoked.encode());
    assertEquals("force_released", revoked.getJsonObject("data").getString("reason"));
    assertEquals("maintenance", revoked.getJsonObject("data").getString("message"));
    assertEquals(held.getString("expires_at"), revoked.getJsonObject("data").getString("handoff_at"));
    assertTrue(heardMs < 1000, "the holder heard of its revocation after " + heardMs + " ms");

    TestBroker.Watch late = b.watch(held.getString("token"));
    assertEquals(200, late.status, "a revoking lease can still be watched");
    late.next(5000);
    assertEquals("revoked", late.next(5000).getString("event"), "a late watcher is told at once");

    b.post("/v1/gpu/release", token(held));
    JsonObject ended = watch.next(5000);
    assertEquals("ended", ended.getString("event"));
    assertEquals(io.iqa.broker.store.LeaseEventType.REVOKE_CONFIRMED.wireName(), ended.getJsonObject("data").getString("event"));
    TestBroker.await(watch.ended.future());
    assertEquals(410, b.watch(held.getString("token")).status, "an ended lease answers 410 like renew");
  }

  @Test
  void aYieldableHolderIsAskedOnceOnItsWatchWhenAnEqualPriorityWaiterComesAndItsReleaseSaysYielded() {
    TestBroker b = broker();
    JsonObject held = b.lease(req("sidecar").put("gpu", 0).put("ttl_s", 60).put("yield", true));
    assertEquals(true, held.getBoolean("yield"), held.encode());
    TestBroker.Watch watch = b.watch(held.getString("token"));
    assertEquals("lease", watch.next(5000).getString("event"));

    Reply noWait = b.post("/v1/gpu/lease", req("prober").put("gpu", 0));
    assertEquals(409, noWait.status(), "a request that will not wait asks nobody to yield");
    assertFalse(eventTypes(b).contains(io.iqa.broker.store.LeaseEventType.YIELD_REQUESTED.wireName()), eventTypes(b).toString());

    long t0 = System.nanoTime();
    Future<Reply> waiter = b.postAsync("/v1/gpu/lease", req("llm").put("gpu", 0).put("wait_s", 20));
    JsonObject asked = watch.next(2000);
    assertEquals(io.iqa.broker.store.LeaseEventType.YIELD_REQUESTED.wireName(), asked.getString("event"), asked.encode());
    assertEquals("llm", asked.getJsonObject("data").getString("by"));
    assertTrue((System.nanoTime() - t0) / 1_000_000 < 1000, "the holder must be asked at once");
    Future<Reply> second = b.postAsync("/v1/gpu/lease", req("other").put("gpu", 0).put("wait_s", 20));
    b.awaitWaiting(2);
    JsonObject shown = b.get("/v1/gpu/status").json().getJsonArray("gpus").getJsonObject(0).getJsonArray("leases")
        .getJsonObject(0);
    assertEquals("held", shown.getString("state"), "a yield request does not revoke: " + shown);
    assertNotNull(shown.getString("yield_requested_at"), shown.encode());
    assertEquals(200, b.post("/v1/gpu/renew", token(held)).status(), "the lease stays valid until it yields");

    Reply released = b.post("/v1/gpu/release", token(held).put("reason", "yielded"));
    assertEquals(new JsonObject().put("released", true), released.json());
    assertEquals(200, TestBroker.await(waiter).status());
    JsonArray events = b.get("/v1/gpu/events").json().getJsonArray("events");
    List<JsonObject> list = events.stream().map(JsonObject.class::cast).toList();
    assertEquals(1, list.stream().filter(e -> e.getString("type").equals(io.iqa.broker.store.LeaseEventType.YIELD_REQUESTED.wireName())).count(),
        "asked once per lease, however many wait: " + list);
    JsonObject end = list.stream().filter(e -> e.getString("type").equals("released")).findFirst().orElseThrow();
    assertEquals("yielded", end.getString("reason"));
    assertEquals(400, b.post("/v1/gpu/release", token(held).put("reason", "bad\nreason")).status());
  }

  /** Round 3 (CI, Python client): a watch opened after the request was asked with message null. */
  @Test
  void aWatchOpenedAfterTheYieldRequestIsToldWithAMessage() {
    TestBroker b = broker();
    JsonObject held = b.lease(req("sidecar").put("gpu", 0).put("ttl_s", 60).put("yield", true));
    Future<Reply> waiter = b.postAsync("/v1/gpu/lease", req("llm").put("gpu", 0).put("wait_s", 20));
    b.awaitWaiting(1);
    TestBroker.Watch watch = b.watch(held.getString("token"));
    assertEquals("lease", watch.next(5000).getString("event"));
    JsonObject asked = watch.next(2000);
    assertEquals("yield_requested", asked.getString("event"), asked.encode());
    String message = asked.getJsonObject("data").getString("message");
    assertNotNull(message, asked.encode());
    assertTrue(message.startsWith("gpu 0 is wanted by a waiter (asked at "), message);
    b.post("/v1/gpu/release", token(held).put("reason", "yielded"));
    assertEquals(200, TestBroker.await(waiter).status());
  }

  @Test
  void aHolderThatDidNotOfferIsAskedOnlyByAPreemptingWaiterOfHigherPriority() {
    TestBroker b = broker();
    JsonObject low = b.lease(req("batch").put("gpu", 0).put("ttl_s", 60).put("priority", "low"));
    TestBroker.Watch watch = b.watch(low.getString("token"));
    watch.next(5000);
    Future<Reply> polite = b.postAsync("/v1/gpu/lease", req("polite").put("gpu", 0).put("wait_s", 1)
        .put("priority", "high"));
    assertEquals(409, TestBroker.await(polite).status());
    assertFalse(eventTypes(b).contains(io.iqa.broker.store.LeaseEventType.YIELD_REQUESTED.wireName()), "the holder did not offer to yield");
    Future<Reply> sameRank = b.postAsync("/v1/gpu/lease", req("peer").put("gpu", 0).put("wait_s", 1)
        .put("priority", "low").put("preempt", true));
    assertEquals(409, TestBroker.await(sameRank).status());
    assertFalse(eventTypes(b).contains(io.iqa.broker.store.LeaseEventType.YIELD_REQUESTED.wireName()), "preempt reaches lower priorities only");

    Future<Reply> urgent = b.postAsync("/v1/gpu/lease", req("llm").put("gpu", 0).put("wait_s", 20)
        .put("priority", "high").put("preempt", true));
    JsonObject asked = watch.next(2000);
    assertEquals(io.iqa.broker.store.LeaseEventType.YIELD_REQUESTED.wireName(), asked.getString("event"), asked.encode());
    assertTrue(asked.getJsonObject("data").getString("message").contains("preempt"), asked.encode());
    b.post("/v1/gpu/release", token(low).put("reason", "yielded"));
    assertEquals(200, TestBroker.await(urgent).status());
  }

  @Test
  void aYieldableHolderIsNotAskedByALowerPriorityWaiter() {
    TestBroker b = broker();
    b.lease(req("sidecar").put("gpu", 0).put("ttl_s", 60).put("yield", true).put("priority", "high"));
    Future<Reply> low = b.postAsync("/v1/gpu/lease", req("batch").put("gpu", 0).put("wait_s", 1)
        .put("priority", "normal"));
    assertEquals(409, TestBroker.await(low).status());
    assertFalse(eventTypes(b).contains(io.iqa.broker.store.LeaseEventType.YIELD_REQUESTED.wireName()), eventTypes(b).toString());
  }

  @Test
  void aStoreThatLostItsLeaseStateGrantsNothingUntilTheRecoveryGracePasses() throws Exception {
    JsonObject config = new JsonObject()
        .put("gpus", new JsonArray().add(new JsonObject().put("index", 0).put("vram_mb", 0)))
        .put("recovery_grace_s", 1.5)
        .put("store", storeConfig());
    TestBroker b = new TestBroker(config, false);
    cleanup.add(b);
    long started = System.nanoTime();
    loseLeaseState();
    JsonObject health = b.get("/health").json();
    assertEquals("recovering", health.getString("status"), health.encode());
    assertNotNull(health.getString("recovering_until"));
    Reply refused = b.post("/v1/gpu/lease", req("early").put("gpu", 0));
    assertEquals(409, refused.status(), refused.toString());
    assertNotNull(refused.json().getString("recovering_until"));
    assertTrue(refused.json().getString("message").contains("--fresh"), refused.json().getString("message"));
    Reply waited = b.post("/v1/gpu/lease", req("patient").put("gpu", 0).put("wait_s", 10));
    long waitedMs = (System.nanoTime() - started) / 1_000_000;
    assertEquals(200, waited.status(), waited.toString());
    assertTrue(waitedMs >= 1200, "granted " + waitedMs + " ms after start, inside the recovery period");
    assertEquals("ok", b.get("/health").json().getString("status"));
  }

  @Test
  void leaseOfAProcessThatDiesIsReleasedAsHolderExited() throws Exception {
    TestBroker b = broker(new JsonObject().put("reaper_interval_ms", 100));
    Process holder = new ProcessBuilder("sleep", "60").start();
    try {
      JsonObject lease = b.lease(req("proc").put("gpu", 0).put("pid", holder.pid()).put("ttl_s", 600));
      TestBroker.sleep(300);
      assertEquals(200, b.post("/v1/gpu/renew", token(lease)).status(), "a live holder keeps its lease");
      holder.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
      long killed = System.nanoTime();
      Reply renew = b.renewWhile(lease, 200, 5000);
      assertEquals(410, renew.status(), "lease survived its holder: " + renew);
      assertEquals("holder_exited", renew.json().getString("reason"));
      assertTrue((System.nanoTime() - killed) / 1_000_000 < 2000, "released later than a few reaper intervals");
    } finally {
      holder.destroyForcibly();
    }
    Reply dead = b.post("/v1/gpu/lease", req("ghost").put("gpu", 0).put("pid", holder.pid()));
    assertEquals(400, dead.status(), "a pid that is not running must be refused: " + dead);
  }

  /**
   * A holder that dies does not end its lease while a process it started still runs (the sidecar's
   * worker, a command's child: each carries GPU_LEASE_ID, and its parent-death signal takes it down a
   * moment later, or it outlives its parent): holder_exited comes once the last of them is gone.
   */
  @Test
  void aDeadHolderKeepsItsLeaseWhileAProcessCarryingItsIdRuns() throws Exception {
    TestBroker b = broker(new JsonObject().put("reaper_interval_ms", 100));
    Process holder = new ProcessBuilder("sleep", "60").start();
    Process carrier = null;
    try {
      JsonObject lease = b.lease(req("proc").put("gpu", 0).put("pid", holder.pid()).put("ttl_s", 600));
      ProcessBuilder pb = new ProcessBuilder("sleep", "60");
      pb.environment().put("GPU_LEASE_ID", Long.toString(lease.getLong("lease_id")));
      carrier = pb.start();
      holder.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
      TestBroker.sleep(1000);
      assertEquals(200, b.post("/v1/gpu/renew", token(lease)).status(),
          "the lease ended while a process carrying its id still ran");
      carrier.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
      Reply renew = b.renewWhile(lease, 200, 5000);
      assertEquals(410, renew.status(), renew.toString());
      assertEquals("holder_exited", renew.json().getString("reason"));
    } finally {
      holder.destroyForcibly();
      if (carrier != null) {
        carrier.destroyForcibly();
      }
    }
  }

  @Test
  void leaseIdsStrictlyIncreaseAndTokensAreLongRandomAndAppearNowhereElse() {
    Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
    ListAppender<ILoggingEvent> logs = new ListAppender<>();
    logs.setContext((LoggerContext) LoggerFactory.getILoggerFactory());
    logs.start();
    Level before = root.getLevel();
    root.setLevel(Level.DEBUG);
    root.addAppender(logs);
    try {
      TestBroker b = broker(new JsonObject().put("stale_max_age_s", 3600));
      List<String> tokens = new ArrayList<>();
      long lastId = 0;
      for (int i = 0; i < 40; i++) {
        JsonObject lease = b.lease(req("ids").put("gpu", 1).put("vram_mb", 100));
        long id = lease.getLong("lease_id");
        assertTrue(id > lastId, "lease_id " + id + " after " + lastId);
        lastId = id;
        String token = lease.getString("token");
        assertTrue(Base64.getUrlDecoder().decode(token).length >= 16, "token shorter than 128 bits: " + token);
        tokens.add(token);
        b.post("/v1/gpu/renew", token(lease));
        if (i % 2 == 0) {
          b.post("/v1/gpu/release", token(lease));
        }
      }
      b.post("/v1/gpu/force_release", new JsonObject().put("owner", "ids").put("reason", "cleanup"));
      assertEquals(tokens.size(), new HashSet<>(tokens).size(), "tokens repeat");
      String everything = b.get("/v1/gpu/status").body() + "\n" + b.get("/v1/gpu/events").body() + "\n"
          + b.get("/metrics").body() + "\n" + b.get("/health").body() + "\n"
          + String.join("\n", logs.list.stream().map(ILoggingEvent::getFormattedMessage).toList());
      assertTrue(logs.list.size() > 0, "no log lines were captured, so the check below would prove nothing");
      for (String token : tokens) {
        assertFalse(everything.contains(token), "a token leaked into status, events, metrics or logs");
        assertFalse(everything.contains(Sha256.hex(token)), "a token hash leaked");
      }
    } finally {
      root.detachAppender(logs);
      root.setLevel(before);
    }
  }

  @Test
  void withAuthAClientMayForceReleaseOnlyItsOwnLeasesAndAnAdminAny() {
    TestBroker b = authBroker("alice", "client", "bob", "client", "ops", "admin");
    assertEquals(200, b.get("/health").status(), "health stays open for liveness probes");
    Reply none = b.get("/v1/gpu/status");
    assertEquals(401, none.status());
    assertEquals("unauthorized", none.json().getString("error"));
    assertEquals(401, b.get("/v1/gpu/status", "wrong").status());
    assertEquals(401, b.get("/metrics").status());

    JsonObject alices = b.post("/v1/gpu/lease", req("alice").put("gpu", 1).put("vram_mb", 100), "alice-secret").json();
    JsonObject bobs = b.post("/v1/gpu/lease", req("bob").put("gpu", 1).put("vram_mb", 100), "bob-secret").json();
    assertNotNull(alices.getLong("lease_id"));
    assertNotNull(bobs.getLong("lease_id"));

    Reply byOwner = b.post("/v1/gpu/force_release", new JsonObject().put("owner", "bob"), "alice-secret");
    assertEquals(403, byOwner.status(), byOwner.toString());
    assertEquals("forbidden", byOwner.json().getString("error"));
    Reply byId = b.post("/v1/gpu/force_release", new JsonObject().put("lease_id", bobs.getLong("lease_id")),
        "alice-secret");
    assertEquals(403, byId.status(), byId.toString());

    Reply own = b.post("/v1/gpu/force_release", new JsonObject().put("owner", "alice"), "alice-secret");
    assertEquals(200, own.status(), own.toString());
    assertEquals(1, own.json().getJsonArray("released").size());
    Reply admin = b.post("/v1/gpu/force_release",
        new JsonObject().put("lease_id", bobs.getLong("lease_id")).put("reason", "maintenance"), "ops-secret");
    assertEquals(200, admin.status());
    assertEquals("bob", admin.json().getJsonArray("released").getJsonObject(0).getString("owner"));
    JsonObject event = lastEvent(b, "ops-secret");
    assertEquals("force_released", event.getString("type"));
    assertEquals("ops", event.getString("by"));
    assertEquals("maintenance", event.getString("reason"));
  }

  @Test
  void forceReleaseByOwnerHonoursOlderThan() {
    TestBroker b = broker();
    b.lease(req("batch").put("gpu", 1).put("vram_mb", 100));
    b.lease(req("batch").put("gpu", 1).put("vram_mb", 100));
    TestBroker.sleep(600);
    JsonObject young = b.lease(req("batch").put("gpu", 1).put("vram_mb", 100));
    b.lease(req("other").put("gpu", 1).put("vram_mb", 100));
    Reply r = b.post("/v1/gpu/force_release", new JsonObject().put("owner", "batch").put("older_than_s", 0.5));
    assertEquals(2, r.json().getJsonArray("released").size(), r.toString());
    assertEquals(200, b.post("/v1/gpu/renew", token(young)).status(), "the young lease must survive");
    Reply unknown = b.post("/v1/gpu/force_release", new JsonObject().put("lease_id", 999_999));
    assertEquals(404, unknown.status());
  }

  @Test
  void everyBadInputGetsA400WithTheJsonErrorShape() {
    TestBroker b = broker();
    List<Object[]> cases = List.of(
        new Object[] {"/v1/gpu/lease", "{}", "missing owner"},
        new Object[] {"/v1/gpu/lease", "{\"owner\":\"bad owner!\"}", "bad owner characters"},
        new Object[] {"/v1/gpu/lease", "{\"owner\":\"" + "x".repeat(65) + "\"}", "owner too long"},
        new Object[] {"/v1/gpu/lease", "{\"owner\":\"a\",\"ttl_s\":-5}", "negative ttl"},
        new Object[] {"/v1/gpu/lease", "{\"owner\":\"a\",\"ttl_s\":1e12}", "huge ttl"},
        new Object[] {"/v1/gpu/lease", "{\"owner\":\"a\",\"ttl_s\":\"300\"}", "ttl as a string"},
        new Object[] {"/v1/gpu/lease", "{\"owner\":\"a\",\"wait_s\":-1}", "negative wait"},
        new Object[] {"/v1/gpu/lease", "not json", "non-JSON body"},
        new Object[] {"/v1/gpu/lease", "[1,2]", "JSON array body"},
        new Object[] {"/v1/gpu/lease", "", "empty body"},
        new Object[] {"/v1/gpu/lease", "{\"owner\":\"a\",\"gpu\":7}", "unknown gpu index"},
        new Object[] {"/v1/gpu/lease", "{\"owner\":\"a\",\"gpu\":1.5}", "fractional gpu index"},
        new Object[] {"/v1/gpu/lease", "{\"owner\":\"a\",\"gpu\":1,\"vram_mb\":9000}", "vram over capacity"},
        new Object[] {"/v1/gpu/lease", "{\"owner\":\"a\",\"vram_mb\":0}", "zero vram"},
        new Object[] {"/v1/gpu/lease", "{\"owner\":\"a\",\"priority\":\"urgent\"}", "unknown priority"},
        new Object[] {"/v1/gpu/lease", "{\"owner\":\"a\",\"pid\":-3}", "negative pid"},
        new Object[] {"/v1/gpu/lease", "{\"owner\":\"a\",\"ttl\":30}", "unknown field"},
        new Object[] {"/v1/gpu/renew", "{}", "renew without token"},
        new Object[] {"/v1/gpu/renew", "{\"token\":\"x\",\"ttl_s\":0}", "renew with zero ttl"},
        new Object[] {"/v1/gpu/release", "{\"token\":5}", "numeric token"},
        new Object[] {"/v1/gpu/force_release", "{}", "force_release without selector"},
        new Object[] {"/v1/gpu/force_release", "{\"lease_id\":\"one\"}", "lease_id as a string"},
        new Object[] {"/v1/gpu/force_release", "{\"owner\":\"a\",\"older_than_s\":-1}", "negative older_than_s"});
    for (Object[] c : cases) {
      Reply r = b.send(HttpMethod.POST, (String) c[0], Buffer.buffer((String) c[1]), null);
      assertEquals(400, r.status(), c[2] + " -> " + r);
      assertEquals("application/json", r.contentType(), (String) c[2]);
      assertEquals("bad_request", r.json().getString("error"), (String) c[2]);
      assertFalse(r.json().getString("message", "").isBlank(), c[2] + " has no message");
    }
    Reply huge = b.send(HttpMethod.POST, "/v1/gpu/lease", Buffer.buffer("{\"owner\":\"" + "a".repeat(100_000) + "\"}"),
        null);
    assertEquals(413, huge.status());
    assertEquals("too_large", huge.json().getString("error"));
    Reply nowhere = b.get("/v1/gpu/nowhere");
    assertEquals(404, nowhere.status());
    assertEquals("not_found", nowhere.json().getString("error"));
    assertEquals(405, b.get("/v1/gpu/lease").status());
    assertEquals(400, b.get("/v1/gpu/events?since=abc").status());
    assertEquals(200, b.get("/health").status(), "broker must still answer after bad input");
    assertEquals(200, b.lease(req("after").put("gpu", 0)).getInteger("gpu") == 0 ? 200 : 500);
  }

  @Test
  void eventsAreListedNewestLastAndStreamedAsServerSentEvents() {
    TestBroker b = broker();
    RequestOptions ro = new RequestOptions().setMethod(HttpMethod.GET).setURI("/v1/gpu/events")
        .putHeader("Accept", "text/event-stream");
    StringBuffer stream = new StringBuffer();
    TestBroker.await(b.http.request(ro).compose(r -> r.send())
        .onSuccess(resp -> resp.handler(buf -> stream.append(buf.toString()))));
    JsonObject lease = b.lease(req("evt").put("gpu", 0).put("purpose", "events"));
    b.post("/v1/gpu/renew", token(lease));
    b.post("/v1/gpu/release", token(lease));
    List<String> types = eventTypes(b);
    assertEquals(List.of("granted", "renewed", "released"), types.subList(types.size() - 3, types.size()));
    JsonObject released = lastEvent(b, null);
    assertEquals(lease.getLong("lease_id"), released.getLong("lease_id"));
    assertEquals("evt", released.getString("by"));
    long deadline = System.nanoTime() + 5_000_000_000L;
    while (!stream.toString().contains("event: released") && System.nanoTime() < deadline) {
      TestBroker.sleep(20);
    }
    String text = stream.toString();
    assertTrue(text.contains("event: granted\ndata: {"), "stream lacks the grant: " + text);
    assertTrue(text.contains("event: released\ndata: {"), "stream lacks the release: " + text);
    long since = released.getLong("seq") - 1;
    assertEquals(1, b.get("/v1/gpu/events?since=" + since).json().getJsonArray("events").size());
  }

  @Test
  void healthAndMetricsReportTheBroker() {
    TestBroker b = broker();
    JsonObject lease = b.lease(req("m").put("gpu", 0));
    b.post("/v1/gpu/lease", req("m2").put("gpu", 0));
    b.post("/v1/gpu/release", token(lease));
    JsonObject health = b.get("/health").json();
    assertEquals("ok", health.getString("status"));
    assertEquals(storeConfig().getString("type"), health.getString("store"));
    Reply metrics = b.get("/metrics");
    assertEquals(200, metrics.status());
    String text = metrics.body().toString();
    for (String expected : List.of("gpu_lease_grants_total{gpu=\"0\"} 1.0", "gpu_lease_busy_total 1.0",
        "gpu_lease_ends_total{reason=\"released\"} 1.0", "gpu_lease_active{gpu=\"0\"} 0.0",
        "gpu_lease_grant_wait_seconds_bucket")) {
      assertTrue(text.contains(expected), "metrics lack '" + expected + "':\n" + text);
    }
    JsonObject status = b.get("/v1/gpu/status").json();
    assertEquals(storeConfig().getString("type"), status.getString("store"));
    assertNotNull(status.getString("time"));
    assertNotEquals(null, status.getDouble("stale_max_age_s"));
  }

  static List<String> eventTypes(TestBroker b) {
    return b.get("/v1/gpu/events").json().getJsonArray("events").stream()
        .map(e -> ((JsonObject) e).getString("type")).toList();
  }

  static JsonObject lastEvent(TestBroker b, String bearer) {
    JsonArray events = b.get("/v1/gpu/events", bearer).json().getJsonArray("events");
    return events.getJsonObject(events.size() - 1);
  }
}
