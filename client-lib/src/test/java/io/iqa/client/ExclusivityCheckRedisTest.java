package io.iqa.client;

import io.iqa.testkit.BrokerProcess;
import io.iqa.testkit.RedisServer;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The exclusivity check on two brokers sharing one Redis, one killed and restarted at a time. */
class ExclusivityCheckRedisTest extends ExclusivityCheck {

  @Test
  void twoBrokersOnRedisOneKilledAndRestartedAtATime(@TempDir Path dir) throws Exception {
    try (RedisServer redis = new RedisServer()) {
      JsonObject config = config().put("store", new JsonObject().put("type", "redis").put("url", redis.url())
          .put("key_prefix", "exclusive:"));
      check(List.of(new BrokerProcess(config, dir), new BrokerProcess(config, dir)));
    }
  }
}
