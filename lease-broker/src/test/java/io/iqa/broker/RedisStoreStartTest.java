package io.iqa.broker;

import io.iqa.testkit.RedisServer;
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
}
