package io.iqa.broker;

import io.iqa.broker.gpu.GpuDevice;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.iqa.broker.TestBroker.Reply;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * The memory store's state file and what a crash, a full disk or a damaged file can leave in it:
 * every acknowledged change is kept, a torn record anywhere is skipped with a warning naming it, an
 * empty file or a torn snapshot is lost state (the recovery grace, lease ids never reused), a file
 * that does not exist yet is a first start, a restart during a grace keeps it.
 */
class StateFileTest {

  @TempDir
  Path dir;
  private final ListAppender<ILoggingEvent> logs = new ListAppender<>();
  private final Logger storeLog = (Logger) LoggerFactory.getLogger("io.iqa.broker.store.memory");

  /** The state file most tests use. */
  private Path state;

  @BeforeEach
  void captureLogs() {
    state = dir.resolve("broker-state.jsonl");
    logs.setContext((LoggerContext) LoggerFactory.getILoggerFactory());
    logs.start();
    storeLog.addAppender(logs);
  }

  @AfterEach
  void stopCapturing() {
    storeLog.detachAppender(logs);
  }

  /** A broker on {@link #state}, started as after a restart: it restores what the file holds. */
  private TestBroker onTheStateFile() {
    return new TestBroker(config(state), false);
  }

  private JsonObject config(Path state) {
    return new JsonObject().put("gpus", new JsonArray().add(new JsonObject().put("index", 0).put("vram_mb", 0)))
        .put("reaper_interval_ms", 60_000).put("recovery_grace_s", 600).put("state_file", state.toString());
  }

  private String warnings() {
    return logs.list.stream().filter(e -> e.getLevel().isGreaterOrEqual(ch.qos.logback.classic.Level.WARN))
        .map(ILoggingEvent::getFormattedMessage).collect(Collectors.joining("\n"));
  }

  private static JsonObject lease(TestBroker b, String owner) {
    return b.lease(new JsonObject().put("owner", owner).put("ttl_s", 60));
  }

  private static int renew(TestBroker b, JsonObject lease) {
    return b.post("/v1/gpu/renew", new JsonObject().put("token", lease.getString("token"))).status();
  }

  private static void release(TestBroker b, JsonObject lease) {
    b.post("/v1/gpu/release", new JsonObject().put("token", lease.getString("token")));
  }

  @Test
  void aFileThatDoesNotExistYetIsAFirstStartThatGrantsAtOnce() throws Exception {
    state = dir.resolve("new/folder/broker-state.jsonl");
    try (TestBroker first = onTheStateFile()) {
      assertEquals("ok", first.get("/health").json().getString("status"), "a first start has nothing to recover");
      assertEquals(1, lease(first, "first").getLong("lease_id"));
    }
    assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(state)),
        "the state file holds token hashes: owner only");
  }

  @Test
  void aTornLastLineFromACrashIsDroppedAndEverythingBeforeItRestored() throws Exception {
    JsonObject held;
    long lastSeq;
    try (TestBroker first = onTheStateFile()) {
      held = lease(first, "kept");
      assertEquals(200, renew(first, held));
      JsonArray events = first.get("/v1/gpu/events").json().getJsonArray("events");
      lastSeq = events.getJsonObject(events.size() - 1).getLong("seq");
    }
    assertFalse(Files.readString(state).contains(held.getString("token")), "only the token's hash may be written");
    Files.writeString(state, "{\"op\":\"grant\",\"lease\":{\"id\":99,\"th\":\"ab", StandardOpenOption.APPEND);
    try (TestBroker second = onTheStateFile()) {
      assertEquals("ok", second.get("/health").json().getString("status"), "a torn change record is no lost state");
      assertEquals(200, renew(second, held));
      JsonObject renewed = second.get("/v1/gpu/events").json().getJsonArray("events").getJsonObject(0);
      assertEquals(lastSeq + 1, renewed.getLong("seq"), "the event log must go on where it stopped, so a client "
          + "reading ?since=SEQ misses nothing: " + renewed);
      assertEquals(409, second.post("/v1/gpu/lease", new JsonObject().put("owner", "next").put("gpu", 0)).status(),
          "the restored lease still holds gpu 0");
      assertTrue(warnings().contains("line 4 is not a whole record"), "the torn line must be named: " + warnings());
      release(second, held);
      assertTrue(lease(second, "after").getLong("lease_id") > 99, "the torn line named lease 99: ids go on above it");
    }
  }

  @Test
  void aTornRecordInTheMiddleIsSkippedWithAWarningAndEveryWholeRecordAfterItIsKept() throws Exception {
    JsonObject a;
    JsonObject b;
    try (TestBroker first = new TestBroker(config(state).put("gpus", new JsonArray()
        .add(new JsonObject().put("index", 0).put("vram_mb", 0)).add(new JsonObject().put("index", 1).put("vram_mb", 0)))
        , false)) {
      a = first.lease(new JsonObject().put("owner", "a").put("gpu", 0).put("ttl_s", 60));
      b = first.lease(new JsonObject().put("owner", "b").put("gpu", 1).put("ttl_s", 60));
    }
    // What an older broker left after a full disk: a partial line with the next (acknowledged) record glued to it.
    List<String> lines = Files.readAllLines(state);
    String grantB = lines.get(2);
    lines.set(2, "{\"op\":\"renew\",\"id\":1,\"tt" + grantB);
    lines.add(3, "{\"op\":\"revoke\",\"id\":1,\"reason\":\"nonsense\"}");
    lines.add(4, "[\"valid json, not a record\"]");
    Files.write(state, lines);
    try (TestBroker second = new TestBroker(config(state).put("gpus", new JsonArray()
        .add(new JsonObject().put("index", 0).put("vram_mb", 0)).add(new JsonObject().put("index", 1).put("vram_mb", 0)))
        , false)) {
      assertEquals("ok", second.get("/health").json().getString("status"), second.get("/health").body().toString());
      assertEquals(410, renew(second, a), "the lease before the damage is kept, revoked as its last record says");
      assertEquals(200, renew(second, b), "the whole record glued behind the torn one is kept");
      String w = warnings();
      assertTrue(w.contains("line 3 holds a torn record followed by a whole one"), w);
      assertTrue(w.contains("line 4: revocation reason nonsense is unknown"), "an unknown revocation reason stays a "
          + "revocation, never read as a held lease: " + w);
      assertTrue(w.contains("line 5"), w);
    }
  }

  @Test
  void anEmptyFileIsLostStateTheGraceAppliesAndLeaseIdsAreNeverHandedOutAgain() throws Exception {
    try (TestBroker first = onTheStateFile()) {
      lease(first, "lost");
    }
    Files.write(state, new byte[0]); // what a power loss with state_fsync false can leave
    try (TestBroker second = onTheStateFile()) {
      JsonObject health = second.get("/health").json();
      assertEquals("recovering", health.getString("status"), "an empty state file is lost state: " + health);
      Reply refused = second.post("/v1/gpu/lease", new JsonObject().put("owner", "other"));
      assertEquals(409, refused.status(), refused.toString());
      assertNotNull(refused.json().getString("recovering_until"));
      assertTrue(warnings().contains("is empty"), warnings());
    }
    // The grace itself is in the file: a restart during it keeps it, and ids go on above the Unix time.
    try (TestBroker third = new TestBroker(config(state).put("recovery_grace_s", 1), false)) {
      assertEquals("recovering", third.get("/health").json().getString("status"),
          "a restart during a recovery grace forgot the grace");
      Reply granted = third.post("/v1/gpu/lease", new JsonObject().put("owner", "later").put("wait_s", 10));
      assertEquals(200, granted.status(), granted.toString());
      assertTrue(granted.json().getLong("lease_id") >= System.currentTimeMillis() / 1000 - 3600,
          "after lost state lease ids go on above the Unix time, never from 1 again: " + granted);
    }
    try (TestBroker fourth = onTheStateFile()) {
      assertEquals("ok", fourth.get("/health").json().getString("status"), "the grace ended and the file says so");
    }
  }

  @Test
  void aTornSnapshotIsLostStateYetTheWholeRecordsAfterItAreRestored() throws Exception {
    JsonObject held;
    try (TestBroker first = onTheStateFile()) {
      held = lease(first, "after-snapshot");
    }
    List<String> lines = Files.readAllLines(state);
    lines.set(0, lines.get(0).substring(0, lines.get(0).length() / 2));
    Files.write(state, lines);
    try (TestBroker second = onTheStateFile()) {
      assertEquals("recovering", second.get("/health").json().getString("status"), "a torn snapshot is lost state");
      assertEquals(200, renew(second, held), "the grant after the torn snapshot is kept: its holder goes on");
      assertTrue(warnings().contains("the snapshot of every live lease) is torn"), warnings());
      try (Stream<Path> files = Files.list(dir)) {
        assertTrue(files.anyMatch(p -> p.getFileName().toString().startsWith("broker-state.jsonl.damaged-")),
            "the damaged file is kept for the operator");
      }
    }
  }

  @Test
  void aStateFileThatCannotBeReadIsMovedAsideAndLostStateGetsTheGrace() throws Exception {
    Files.createDirectories(state.resolve("not-a-file"));
    try (TestBroker b = onTheStateFile()) {
      assertEquals("recovering", b.get("/health").json().getString("status"));
      assertTrue(warnings().contains("cannot be read") && warnings().contains(".unreadable-"), warnings());
      assertTrue(Files.isRegularFile(state), "a new state file is kept in its place");
    }
  }

  @Test
  void aFullDiskFailsTheChangeWithA503LeavesNoPartialRecordAndLosesNothingAcknowledged() throws Exception {
    Path mount = dir.resolve("small");
    Files.createDirectories(mount);
    Process m = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mount.toString())
        .redirectErrorStream(true).start();
    assumeTrue(m.waitFor(10, TimeUnit.SECONDS) && m.exitValue() == 0, "needs root to mount a small tmpfs");
    try {
      Path state = mount.resolve("broker-state.jsonl");
      Path filler = mount.resolve("filler");
      JsonObject config = config(state).put("gpus", new JsonArray()
          .add(new JsonObject().put("index", 0).put("vram_mb", 1000)));
      List<JsonObject> granted = new java.util.ArrayList<>();
      JsonObject after;
      try (TestBroker b = new TestBroker(config, false)) {
        granted.add(b.lease(new JsonObject().put("owner", "before").put("vram_mb", 1).put("ttl_s", 60)));
        fill(filler);
        // The file's last page still has room for a few records: grant until one does not fit.
        Reply refused = null;
        for (int i = 0; i < 200 && refused == null; i++) {
          Reply r = b.post("/v1/gpu/lease", new JsonObject().put("owner", "full-" + i).put("vram_mb", 1).put("ttl_s", 60));
          if (r.status() == 200) {
            granted.add(r.json());
          } else {
            refused = r;
          }
        }
        assertNotNull(refused, "the disk never filled up");
        assertEquals(503, refused.status(), "a grant the file cannot keep must not be answered 200: " + refused);
        assertTrue(refused.json().getString("message").contains("nothing was changed"), refused.toString());
        assertEquals(granted.size(), b.get("/v1/gpu/status").json().getJsonArray("gpus").getJsonObject(0)
            .getJsonArray("leases").size(), "the refused grant must not be held in memory either");
        Files.delete(filler);
        after = b.lease(new JsonObject().put("owner", "after").put("vram_mb", 1).put("ttl_s", 60));
        assertTrue(after.getLong("lease_id") > granted.get(granted.size() - 1).getLong("lease_id"));
        granted.add(after);
      }
      for (String line : Files.readAllLines(state)) {
        new JsonObject(line); // every line whole: nothing partial, nothing glued
      }
      try (TestBroker restarted = new TestBroker(config, false)) {
        assertEquals("ok", restarted.get("/health").json().getString("status"));
        for (JsonObject g : granted) {
          assertEquals(200, renew(restarted, g), "lease " + g.getLong("lease_id") + " was answered 200 and is lost");
        }
        JsonObject next = restarted.lease(new JsonObject().put("owner", "next").put("vram_mb", 1));
        assertTrue(next.getLong("lease_id") > after.getLong("lease_id"), "a lease id handed out again: " + next);
      }
    } finally {
      new ProcessBuilder("umount", "-l", mount.toString()).start().waitFor(10, TimeUnit.SECONDS);
    }
  }

  private static void fill(Path filler) {
    byte[] chunk = new byte[4096];
    try (var out = Files.newOutputStream(filler)) {
      while (true) {
        out.write(chunk);
        out.flush();
      }
    } catch (java.io.IOException full) {
      // no space left: that is the point
    }
  }

  @Test
  void aFailedCompactionNeverTurnsAMadeChangeIntoAnErrorAndKeepsEveryChange() throws Exception {
    // The compaction's temporary file cannot be created: a folder is in its place.
    Files.createDirectories(dir.resolve("broker-state.jsonl.tmp").resolve("blocker"));
    JsonObject held;
    try (TestBroker b = new TestBroker(config(state), true)) {
      held = lease(b, "busy");
      for (int i = 0; i < 1100; i++) {
        assertEquals(200, renew(b, held), "renew " + i + " was made and must be answered as made");
      }
      assertTrue(warnings().contains("could not compact the lease state file"), warnings());
    }
    assertTrue(Files.isDirectory(dir.resolve("broker-state.jsonl.tmp")), "what was there is left alone");
    try (TestBroker restarted = onTheStateFile()) {
      assertEquals("ok", restarted.get("/health").json().getString("status"));
      assertEquals(200, renew(restarted, held));
    }
  }

  /** Round 3: the file's names became the Java side's (token_hash, vram_mb, ...); files written before are read. */
  @Test
  void aVersionTwoFileInShortNamesIsReadAndRewrittenInTheJavaNames() throws Exception {
    String th = io.iqa.protocol.Sha256.hex("token-of-v2");
    String ended = io.iqa.protocol.Sha256.hex("ended-v2");
    Files.writeString(state, "{\"op\":\"snapshot\",\"v\":2,\"next_id\":5,\"next_event_seq\":9,\"recovering\":false,"
        + "\"leases\":[{\"id\":3,\"th\":\"" + th + "\",\"gpu\":0,\"owner\":\"old\",\"purpose\":\"\",\"vram\":0,"
        + "\"excl\":true,\"prio\":\"normal\",\"pid\":null,\"pidid\":null,\"host\":null,\"ttl\":60000,\"age\":10,"
        + "\"expires_wall\":1,\"yield\":true}],\"ended\":[{\"id\":2,\"th\":\"" + ended + "\",\"reason\":\"expired\"}]}\n"
        + "{\"op\":\"renew\",\"id\":3,\"ttl\":90000,\"age\":20,\"expires_wall\":2}\n");
    try (TestBroker b = onTheStateFile()) {
      assertEquals("", warnings(), "a whole version 2 file reads without a warning");
      JsonObject shown = b.get("/v1/gpu/status").json().getJsonArray("gpus").getJsonObject(0).getJsonArray("leases")
          .getJsonObject(0);
      assertEquals(3, shown.getLong("lease_id"), shown.encode());
      assertEquals(true, shown.getBoolean("yield"), shown.encode());
      assertEquals(200, b.post("/v1/gpu/renew", new JsonObject().put("token", "token-of-v2")).status());
      assertEquals(410, b.post("/v1/gpu/renew", new JsonObject().put("token", "ended-v2")).status(),
          "the ended lease of the old snapshot still says why");
      assertTrue(shown.getDouble("expires_in_s") > 60, "the renew line's ttl of 90 s: " + shown);
      b.post("/v1/gpu/release", new JsonObject().put("token", "token-of-v2"));
      assertTrue(lease(b, "new").getLong("lease_id") >= 5, "ids go on from next_id");
    }
    String now = Files.readString(state);
    assertTrue(now.contains("\"token_hash\":\"" + th + "\"") && now.contains("\"vram_mb\":0")
        && now.contains("\"ttl_ms\":90000") && !now.contains("\"th\":"), now);
  }

  /** Round 3: an unknown name reads as null with the shared Jackson mapper; a revocation must not read as none. */
  @Test
  void aSnapshotLeaseWithAnUnknownRevocationIsNotRestoredAsHeld() throws Exception {
    Files.writeString(state, "{\"op\":\"snapshot\",\"v\":3,\"next_id\":5,\"leases\":[{\"id\":3,\"token_hash\":\""
        + io.iqa.protocol.Sha256.hex("t") + "\",\"gpu\":0,\"owner\":\"old\",\"vram_mb\":0,\"exclusive\":true,"
        + "\"priority\":\"normal\",\"ttl_ms\":60000,\"revoked\":\"martian\"}]}\n");
    try (TestBroker b = onTheStateFile()) {
      assertTrue(warnings().contains("unknown revocation martian") && warnings().contains("that lease is lost"),
          warnings());
      assertEquals(0, b.get("/v1/gpu/status").json().getJsonArray("gpus").getJsonObject(0).getJsonArray("leases")
          .size(), "a lease whose revocation cannot be read is not held again");
      assertEquals("recovering", b.get("/health").json().getString("status"), "a lost lease starts the grace");
    }
  }

  @Test
  void freshDiscardsADamagedFileAndStartsOver() throws Exception {
    Files.writeString(state, "{\"op\":\"snapshot\",\"next_id\":7,\"leases\":[]}\nnot json\n{\"op\":\"end\",\"id\":1}\n");
    try (TestBroker fresh = new TestBroker(config(state), true)) {
      assertEquals("ok", fresh.get("/health").json().getString("status"));
      JsonObject lease = lease(fresh, "new");
      assertEquals(1, lease.getLong("lease_id"), "--fresh starts over: nothing of the damaged file is kept");
    }
    assertTrue(Files.readString(state).startsWith("{\"op\":\"snapshot\""), "--fresh rewrites the file");
  }

  /** Round 2: a release that came late, after a restart, got 404 instead of {@code released: false}. */
  @Test
  void aLateReleaseAfterARestartStillHearsWhyItsLeaseEnded() throws Exception {
    JsonObject ended;
    JsonObject revoked;
    try (TestBroker b = onTheStateFile()) {
      ended = lease(b, "early");
      release(b, ended);
      revoked = lease(b, "hung");
      assertEquals(200, b.post("/v1/gpu/force_release", new JsonObject().put("owner", "hung").put("immediate", true))
          .status());
    }
    try (TestBroker restarted = onTheStateFile()) {
      Reply late = restarted.post("/v1/gpu/release", new JsonObject().put("token", ended.getString("token")));
      assertEquals(200, late.status(), late.toString());
      assertEquals(false, late.json().getBoolean("released"));
      assertEquals("released", late.json().getString("reason"));
      Reply renew = restarted.post("/v1/gpu/renew", new JsonObject().put("token", revoked.getString("token")));
      assertEquals(410, renew.status(), renew.toString());
      assertEquals("force_released", renew.json().getString("reason"));
    }
  }

  /** Round 2: a revoke record with a reason the broker does not know turned a revoking lease back into a held one. */
  @Test
  void aRevocationWhoseReasonCannotBeReadStaysARevocation() throws Exception {
    JsonObject held;
    try (TestBroker b = onTheStateFile()) {
      held = lease(b, "victim");
    }
    Files.writeString(state, "{\"op\":\"revoke\",\"id\":" + held.getLong("lease_id") + ",\"reason\":\"martian\",\"age\":5}\n",
        java.nio.file.StandardOpenOption.APPEND);
    try (TestBroker restarted = onTheStateFile()) {
      JsonObject lease = restarted.get("/v1/gpu/status").json().getJsonArray("gpus").getJsonObject(0)
          .getJsonArray("leases").getJsonObject(0);
      assertEquals("revoking", lease.getString("state"), lease.encode());
      assertTrue(warnings().contains("martian"), warnings());
    }
  }

  /** Round 2: a state file this user may not read was called damaged and moved aside, its leases forgotten. */
  @Test
  void aStateFileThisUserMayNotReadStopsTheStartAndIsLeftAlone() {
    io.iqa.broker.store.JournalFile unreadable = new io.iqa.broker.store.JournalFile() {
      @Override public boolean exists() { return true; }
      @Override public byte[] read() throws java.io.IOException {
        throw new java.nio.file.AccessDeniedException("/var/lib/iqa/broker-state.jsonl");
      }
      @Override public long size() { return 0; }
      @Override public void append(byte[] bytes, boolean sync) { throw new AssertionError("written to"); }
      @Override public void truncate(long size) { throw new AssertionError("written to"); }
      @Override public void replace(byte[] bytes, boolean sync) { throw new AssertionError("written to"); }
      @Override public String moveAside(String suffix) { throw new AssertionError("moved aside"); }
      @Override public String describe() { return "/var/lib/iqa/broker-state.jsonl"; }
      @Override public void close() { }
    };
    io.iqa.broker.store.memory.MemoryLeaseStore store = new io.iqa.broker.store.memory.MemoryLeaseStore(
        new io.iqa.broker.store.StoreSettings(900_000, 30_000, 100, 3_600_000, 1000, 600_000, false, null, false),
        io.iqa.broker.store.StoreClock.SYSTEM, unreadable, io.iqa.broker.store.RestoreRule.FULL_TTL);
    var started = store.start(List.of(new GpuDevice(0, 0)), new io.iqa.broker.store.StoreListener() {
      @Override public void onEvent(io.iqa.broker.store.LeaseEvent event, boolean local) { }
      @Override public void onWake(int gpu) { }
    });
    assertTrue(started.failed(), "the broker must not start on a file it cannot read");
    assertTrue(started.cause().getMessage().contains("may not read it") && started.cause().getMessage()
        .contains("permissions"), started.cause().getMessage());
  }
}
