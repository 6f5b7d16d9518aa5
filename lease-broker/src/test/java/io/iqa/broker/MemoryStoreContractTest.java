package io.iqa.broker;

import io.vertx.core.json.JsonObject;

/** The broker contract on the embedded in-memory store. */
class MemoryStoreContractTest extends LeaseBrokerContractTest {
  @Override
  JsonObject storeConfig() {
    return new JsonObject().put("type", "memory");
  }
}
