package io.iqa.broker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The memory store's state file: what a crash can leave in it, a damaged one, and --fresh. */
class StateFileTest {

  @TempDir
  Path dir;

  private JsonObject config(Path state) {
    return new JsonObject().put("gpus", new JsonArray().add(new JsonObject().put("index", 0).put("vram_mb", 0)))
        .put("reaper_interval_ms", 60_000).put("state_file", state.toString());
  }

  @Test
  void aTornLastLineFromACrashIsDroppedAndEverythingBeforeItRestored() throws Exception {
    Path state = dir.resolve("broker-state.jsonl");
    JsonObject held;
    long lastSeq;
    try (TestBroker first = new TestBroker(config(state))) {
      held = first.lease(new JsonObject().put("owner", "kept").put("ttl_s", 60));
      first.post("/v1/gpu/renew", new JsonObject().put("token", held.getString("token")));
      JsonArray events = first.get("/v1/gpu/events").json().getJsonArray("events");
      lastSeq = events.getJsonObject(events.size() - 1).getLong("seq");
    }
    assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(state)),
        "the state file holds token hashes: owner only");
    assertFalse(Files.readString(state).contains(held.getString("token")), "only the token's hash may be written");
    Files.writeString(state, "{\"op\":\"grant\",\"lease\":{\"id\":99,\"th\":\"ab", StandardOpenOption.APPEND);
    try (TestBroker second = new TestBroker(config(state), false)) {
      assertEquals("ok", second.get("/health").json().getString("status"), "a readable file means no recovery period");
      assertEquals(200, second.post("/v1/gpu/renew", new JsonObject().put("token", held.getString("token"))).status());
      JsonObject renewed = second.get("/v1/gpu/events").json().getJsonArray("events").getJsonObject(0);
      assertEquals(lastSeq + 1, renewed.getLong("seq"), "the event log must go on where it stopped, so a client "
          + "reading ?since=SEQ misses nothing: " + renewed);
      assertEquals(409, second.post("/v1/gpu/lease", new JsonObject().put("owner", "next").put("gpu", 0)).status(),
          "the restored lease still holds gpu 0");
    }
  }

  @Test
  void aDamagedStateFileStopsTheStartWithWhatToDoAndFreshDiscardsIt() throws Exception {
    Path state = dir.resolve("broker-state.jsonl");
    Files.writeString(state, "{\"op\":\"snapshot\",\"next_id\":7,\"leases\":[]}\nnot json\n{\"op\":\"end\",\"id\":1}\n");
    RuntimeException refused = assertThrows(RuntimeException.class, () -> new TestBroker(config(state), false));
    String why = String.valueOf(refused.getMessage()) + refused.getCause();
    assertTrue(why.contains("damaged") && why.contains("--fresh") && why.contains(state.toString()), why);

    try (TestBroker fresh = new TestBroker(config(state), true)) {
      JsonObject lease = fresh.lease(new JsonObject().put("owner", "new"));
      assertEquals(1, lease.getLong("lease_id"), "--fresh starts over: nothing of the damaged file is kept");
    }
    assertTrue(Files.readString(state).startsWith("{\"op\":\"snapshot\""), "--fresh rewrites the file");
  }
}
