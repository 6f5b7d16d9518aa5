package io.iqa.sidecar.worker;

import io.vertx.core.json.JsonObject;

/**
 * A loaded model as the worker describes it in {@link Frame.Type#READY}: what {@code /v1/models}
 * shows, and the fingerprint under which its scores are cached (by the front, across workers).
 */
public record ModelInfo(String name, String backend, String device, String inputs, long loadMs, String fingerprint,
    String fallbackReason) {

  public JsonObject toJson() {
    return new JsonObject().put("name", name).put("backend", backend).put("device", device).put("inputs", inputs)
        .put("load_ms", loadMs).put("fingerprint", fingerprint).put("fallback_reason", fallbackReason);
  }

  public static ModelInfo fromJson(JsonObject j) {
    return new ModelInfo(j.getString("name"), j.getString("backend"), j.getString("device"), j.getString("inputs"),
        j.getLong("load_ms", 0L), j.getString("fingerprint"), j.getString("fallback_reason"));
  }
}
