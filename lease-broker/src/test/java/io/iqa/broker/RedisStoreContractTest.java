package io.iqa.broker;

import io.iqa.testkit.RedisServer;
import io.vertx.core.json.JsonObject;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;

/** The same broker contract on the Redis store: one real redis-server, a fresh key prefix per test. */
class RedisStoreContractTest extends LeaseBrokerContractTest {

  private static RedisServer redis;
  private String prefix;

  @BeforeAll
  static void startRedis() throws Exception {
    redis = new RedisServer();
  }

  @AfterAll
  static void stopRedis() throws Exception {
    redis.close();
  }

  @BeforeEach
  void freshPrefix() {
    prefix = "test-" + UUID.randomUUID() + ":";
  }

  @Override
  void loseLeaseState() throws Exception {
    redis.deletePrefix(prefix);
  }

  @Override
  JsonObject storeConfig() {
    return new JsonObject().put("type", "redis").put("url", redis.url()).put("key_prefix", prefix);
  }
}
