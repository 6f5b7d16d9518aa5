package io.iqa.broker;

import io.vertx.core.json.JsonObject;

/**
 * One arbitrated device. {@code vramMb} 0 means its size is unknown: only whole-device leases.
 */
public record GpuDevice(int index, int vramMb) {

  public JsonObject toJson() {
    return new JsonObject().put("index", index).put("vram_mb", vramMb);
  }
}
