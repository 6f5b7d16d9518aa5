package io.iqa.client;

import java.util.Map;

/**
 * Scores for one image.
 *
 * @param servedBy {@code sidecar}, {@code container} (the one-shot fallback) or {@code cache}
 * @param device where the models ran ({@code cpu}, {@code cuda:0}, ...), as the scorer said
 */
public record ScoreResult(String sha256, Map<String, Double> scores, String servedBy, String device) {

  ScoreResult servedFromCache() {
    return new ScoreResult(sha256, scores, "cache", device);
  }
}
