package io.iqa.broker;

import io.iqa.testkit.RedisServer;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;

/** Start-up checks of the Redis store that a misconfigured fleet must trip over. */
class RedisStoreStartTest {

  @Test
  void brokersThatDisagreeAboutTheGpusRefuseToShareAStore() throws Exception {
    try (RedisServer redis = new RedisServer()) {
      JsonObject store = new JsonObject().put("type", "redis").put("url", redis.url()).put("key_prefix", "fleet:");
      try (TestBroker first = new TestBroker(new JsonObject().put("store", store)
          .put("gpus", new JsonArray().add(new JsonObject().put("index", 0).put("vram_mb", 24576))))) {
        Throwable e = assertThrows(Throwable.class, () -> new TestBroker(new JsonObject().put("store", store)
            .put("gpus", new JsonArray().add(new JsonObject().put("index", 0).put("vram_mb", 81920)))).close());
        assertTrue(String.valueOf(e.getMessage()).contains("make them agree"), "unclear start-up error: " + e);
      }
    }
  }

  @Test
  void aBrokerWhoseRedisIsDownAtStartFailsWithAClearMessage() throws Exception {
    RedisServer redis = new RedisServer();
    String url = redis.url();
    redis.close();
    Throwable e = assertThrows(Throwable.class, () -> new TestBroker(new JsonObject()
        .put("store", new JsonObject().put("type", "redis").put("url", url))).close());
    assertTrue(String.valueOf(e.getMessage()).contains(url), "the error should name the Redis URL: " + e);
  }

  /**
   * An older broker kept its records in short names ({@code th}, {@code vram}, {@code excl}, {@code
   * rv}, ...): this one reads them as they are. Its lease keeps its GPU (nobody else is granted it),
   * renews and releases with its token; its waiter keeps its place and priority.
   */
  @Test
  void recordsAnOlderBrokerWroteInShortNamesAreReadAsTheyAre() throws Exception {
    try (RedisServer redis = new RedisServer()) {
      String p = "old:";
      long now = System.currentTimeMillis();
      String token = "the-old-holders-token";
      String hash = io.iqa.protocol.Sha256.hex(token);
      redis.command("SET", p + "gpus", "[{\"index\":0,\"vram\":0}]");
      redis.command("SET", p + "clock", Long.toString(now));
      redis.command("SET", p + "seq", "5");
      redis.command("SET", p + "init", "{\"id\":\"old:1\",\"created\":" + now + ",\"recovering_until\":0}");
      redis.command("SET", p + "lease:5", new JsonObject().put("id", 5).put("th", hash).put("gpu", 0)
          .put("owner", "old-holder").put("purpose", "").put("vram", 0).put("excl", true).put("prio", "normal")
          .put("granted", now).put("expires", now + 600_000).put("ttl", 600_000).put("y", false).encode());
      redis.command("SET", p + "tok:" + hash, "5");
      redis.command("ZADD", p + "dev:0", "5", "5");
      redis.command("ZADD", p + "exp", Long.toString(now + 600_000), "5");
      redis.command("HSET", p + "queue", "w1", new JsonObject().put("id", "w1").put("enq", now)
          .put("deadline", now + 600_000).put("hb", now + 600_000).put("seq", 1)
          .put("req", new JsonObject().put("th", "x").put("owner", "old-waiter").put("purpose", "")
              .put("ttl", 60_000).put("prio", "high").put("wait", 600_000).put("yield", false).put("preempt", false))
          .encode());
      JsonObject store = new JsonObject().put("type", "redis").put("url", redis.url()).put("key_prefix", p);
      try (TestBroker b = new TestBroker(new JsonObject().put("store", store)
          .put("gpus", new JsonArray().add(new JsonObject().put("index", 0).put("vram_mb", 0))), false)) {
        JsonObject status = b.get("/v1/gpu/status").json().getJsonArray("gpus").getJsonObject(0);
        JsonObject held = status.getJsonArray("leases").getJsonObject(0);
        assertEquals(5L, held.getLong("lease_id"));
        assertEquals("old-holder", held.getString("owner"));
        assertEquals(true, held.getBoolean("exclusive"));
        JsonObject waiting = status.getJsonArray("waiting").getJsonObject(0);
        assertEquals("old-waiter", waiting.getString("owner"));
        assertEquals("high", waiting.getString("priority"));
        assertEquals(409, b.post("/v1/gpu/lease", new JsonObject().put("owner", "newcomer").put("gpu", 0)).status(),
            "the old lease's GPU was granted again");
        assertEquals(200, b.post("/v1/gpu/renew", new JsonObject().put("token", token)).status());
        TestBroker.Reply released = b.post("/v1/gpu/release", new JsonObject().put("token", token));
        assertEquals(true, released.json().getBoolean("released"), released.toString());
      }
      assertTrue(redis.command("GET", p + "gpus").contains("vram_mb"), "an older broker must not start here now");
    }
  }
}
