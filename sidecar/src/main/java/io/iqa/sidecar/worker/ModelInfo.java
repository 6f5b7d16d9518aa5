package io.iqa.sidecar.worker;

import io.iqa.protocol.ScoreScale;
import io.vertx.core.json.JsonObject;

/**
 * A loaded model as the worker describes it in {@link Frame.Type#READY}: what {@code /v1/models}
 * shows, the fingerprint under which its scores are cached (by the front, across workers), and
 * what its scores mean.
 *
 * @param warmupMs how long its warm-up batch took
 */
public record ModelInfo(String name, String backend, String device, String inputs, long loadMs, Long warmupMs,
    String fingerprint, String fallbackReason, ScoreScale scale) {

  public JsonObject toJson() {
    return new JsonObject().put("name", name).put("backend", backend).put("device", device).put("inputs", inputs)
        .put("load_ms", loadMs).put("warmup_ms", warmupMs).put("fingerprint", fingerprint)
        .put("fallback_reason", fallbackReason).mergeIn(new JsonObject(scale.toMap()));
  }

  public static ModelInfo fromJson(JsonObject j) {
    return new ModelInfo(j.getString("name"), j.getString("backend"), j.getString("device"), j.getString("inputs"),
        j.getLong("load_ms", 0L), j.getLong("warmup_ms"), j.getString("fingerprint"), j.getString("fallback_reason"),
        ScoreScale.fromMap(j.getMap()));
  }

  /** The same model placed on {@code onDevice} (the front shows the leased GPU's real index). */
  public ModelInfo withDevice(String onDevice) {
    return new ModelInfo(name, backend, onDevice, inputs, loadMs, warmupMs, fingerprint, fallbackReason, scale);
  }
}
