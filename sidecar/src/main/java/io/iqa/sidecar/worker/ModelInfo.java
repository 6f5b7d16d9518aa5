package io.iqa.sidecar.worker;

import io.iqa.protocol.ScoreScale;
import io.vertx.core.json.JsonObject;
import java.util.LinkedHashMap;
import java.util.Map;

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

  /**
   * The worker's READY: every model of {@code registry} with its warm-up time, how long loading
   * took, its pid, and the start's {@code steps} (with the native runtimes' load times added).
   */
  static Frame readyFrame(io.iqa.sidecar.model.ModelRegistry registry, Map<String, Long> warmingNanos, long loadMs,
      JsonObject steps) {
    io.vertx.core.json.JsonArray models = new io.vertx.core.json.JsonArray();
    for (io.iqa.sidecar.model.ImageModel m : registry.models()) {
      Long warmupMs = warmingNanos.containsKey(m.name()) ? warmingNanos.get(m.name()) / 1_000_000 : null;
      models.add(new ModelInfo(m.name(), m.loaded().backend(), m.loaded().device(), m.loaded().inputs(),
          m.loaded().loadMs(), warmupMs, registry.fingerprint(m.name()), m.loaded().fallbackReason(),
          registry.scale(m.name())).toJson());
    }
    steps.put("natives_ms", new JsonObject(new LinkedHashMap<>(io.iqa.sidecar.model.NativeRuntimes.loadMs())));
    return Frame.of(Frame.Type.READY, new JsonObject().put("models", models).put("load_ms", loadMs)
        .put("pid", ProcessHandle.current().pid()).put("steps", steps));
  }

  /** @return per model, {@code nanos} in whole milliseconds */
  static Map<String, Long> millis(Map<String, Long> nanos) {
    Map<String, Long> ms = new LinkedHashMap<>();
    nanos.forEach((m, ns) -> ms.put(m, ns / 1_000_000));
    return ms;
  }

  /** The same model placed on {@code onDevice} (the front shows the leased GPU's real index). */
  public ModelInfo withDevice(String onDevice) {
    return new ModelInfo(name, backend, onDevice, inputs, loadMs, warmupMs, fingerprint, fallbackReason, scale);
  }
}
