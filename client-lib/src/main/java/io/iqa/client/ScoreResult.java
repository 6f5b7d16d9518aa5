package io.iqa.client;

import com.fasterxml.jackson.databind.JsonNode;
import io.iqa.protocol.wire.ScoreAnswer;
import java.util.Map;

/**
 * Scores for one image.
 *
 * @param servedBy {@code sidecar}, {@code container} (the one-shot fallback) or {@code cache}
 * @param device where the models ran ({@code cpu}, {@code cuda:0}, ...), as the scorer said
 */
public record ScoreResult(String sha256, Map<String, Double> scores, String servedBy, String device) {

  /** An answer as the sidecar's {@code /infer}, the container's {@code score} and the cache file write it. */
  static ScoreResult fromJson(JsonNode j, String servedBy) {
    ScoreAnswer a = io.iqa.protocol.wire.WireJson.fromTree(j, ScoreAnswer.class);
    return new ScoreResult(a.sha256(), a.scores() == null ? Map.of() : a.scores(), servedBy, a.device());
  }

  ScoreResult servedFromCache() {
    return new ScoreResult(sha256, scores, "cache", device);
  }
}
