package io.iqa.client;

import com.fasterxml.jackson.databind.JsonNode;
import io.iqa.protocol.ScoreScale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What each model's scores mean (range, direction), as the sidecar's {@code /v1/models} says (asked
 * until it has answered once) and as the container fallback's answers say.
 */
final class ModelScales {

  private static final Logger LOG = LoggerFactory.getLogger(ModelScales.class);

  private final SidecarApi sidecar;
  private final Map<String, ScoreScale> scales = new ConcurrentHashMap<>();
  private volatile boolean fetched;

  ModelScales(SidecarApi sidecar) {
    this.sidecar = sidecar;
  }

  /** @return every scale known, the sidecar's fetched first if it has not answered yet */
  Map<String, ScoreScale> all() {
    if (!fetched) {
      try {
        JsonNode models = sidecar.models();
        models.path("models").forEach(m -> scales.put(m.path("name").asText(), scale(m)));
        fetched = true;
      } catch (RuntimeException e) {
        LOG.debug("no model scales from the sidecar: {}", e.getMessage());
      }
    }
    return Map.copyOf(scales);
  }

  /** Keeps the scales a container fallback's answer names. */
  void learn(JsonNode answer) {
    answer.path("scales").fields().forEachRemaining(e -> scales.put(e.getKey(), scale(e.getValue())));
  }

  /** A scale as the sidecar writes it ({@link ScoreScale#fromMap}). */
  static ScoreScale scale(JsonNode j) {
    return io.iqa.protocol.wire.WireJson.fromTree(j, ScoreScale.class);
  }

}
