package io.iqa.broker.store;

import io.iqa.protocol.wire.Priority;
import io.vertx.core.json.JsonObject;

/** A queued request, as shown in the status view. {@code gpu} is null for "any device". */
public record Waiter(String owner, String purpose, Integer gpu, Integer vramMb, Priority priority, long waitedMs) {

  public JsonObject toJson() {
    return new JsonObject()
        .put("owner", owner)
        .put("purpose", purpose)
        .put("gpu", gpu)
        .put("vram_mb", vramMb)
        .put("priority", priority.wireName())
        .put("waited_s", waitedMs / 1000.0);
  }
}
