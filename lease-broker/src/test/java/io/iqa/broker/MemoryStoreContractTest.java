package io.iqa.broker;

import io.vertx.core.json.JsonObject;

/** The broker contract on the embedded in-memory store. */
class MemoryStoreContractTest extends LeaseBrokerContractTest {
  @Override
  void loseLeaseState() {
    // A TestBroker has no state file: started without --fresh it has already lost what it granted before.
  }

  @Override
  JsonObject storeConfig() {
    return new JsonObject().put("type", "memory");
  }
}
