package io.iqa.client;

import io.iqa.testkit.BrokerProcess;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The exclusivity check on the memory store with its state file, the broker killed and restarted. */
class ExclusivityCheckTest extends ExclusivityCheck {

  @Test
  void memoryStoreWithItsStateFileKilledAndRestarted(@TempDir Path dir) throws Exception {
    JsonObject config = config().put("state_file", dir.resolve("broker-state.jsonl").toString());
    check(List.of(new BrokerProcess(config, dir)));
  }
}
