package io.iqa.protocol.wire;

import com.fasterxml.jackson.annotation.JsonInclude;
import io.iqa.protocol.ScoreScale;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The scores of one image, as the sidecar's {@code /infer} answers them and its {@code score}
 * command prints them (one JSON line per image), and as the client reads both. Absent fields are
 * null and left out of the wire form. The one definition of these field names: the sidecar builds
 * its answers with {@link Builder} (the {@code score} command adds the path), both sides read and write it through {@link WireJson}.
 *
 * @param path the file, in {@code score}'s output
 * @param width the image's own width (upright), whatever size it was decoded at
 * @param std the spread of each distribution-predicting model (NIMA), by model
 * @param cached /infer: every score came from the cache
 * @param device where the models ran ({@code cpu}, {@code cuda:0}, {@code cpu+cuda:0})
 * @param batch {@code score}: how many images shared the model calls
 * @param timingsMs per model (and {@code decode}, {@code total}), in milliseconds
 * @param scales {@code score}: what each model's scores mean
 * @param error a code ({@code bad_image}, {@code not_found}, ...) when this image was not scored
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record ScoreAnswer(String path, String sha256, Integer width, Integer height, Map<String, Double> scores,
    Map<String, Double> std, Boolean cached, String device, Integer batch, Map<String, Double> timingsMs,
    Map<String, ScoreScale> scales, String error, String message) {

  /** @return the same answer for the file {@code file} */
  public ScoreAnswer withPath(String file) {
    return new ScoreAnswer(file, sha256, width, height, scores, std, cached, device, batch, timingsMs, scales, error,
        message);
  }

  /** @return the wire form, fields in a fixed order, nulls left out */
  public Map<String, Object> toMap() {
    return WireJson.toMap(this);
  }

  /** @return the answer a wire map holds (unknown fields ignored: newer sidecars may add some) */
  public static ScoreAnswer fromMap(Map<String, ?> m) {
    return WireJson.fromMap(m, ScoreAnswer.class);
  }

  /** Builds one answer as the scores come in, model by model. Not thread-safe. */
  public static final class Builder {
    private final String sha256;
    private Integer width;
    private Integer height;
    private Map<String, Double> scores;
    private Map<String, Double> std;
    private Boolean cached;
    private String device;
    private Integer batch;
    private final Map<String, Double> timings = new LinkedHashMap<>();
    private Map<String, ScoreScale> scales;
    private String error;
    private String message;

    public Builder(String sha256) {
      this.sha256 = sha256;
    }

    public Builder size(int w, int h) {
      width = w;
      height = h;
      return this;
    }

    /** A model's score; {@code spread} (null for most models) goes to {@code std}. */
    public Builder score(String model, double value, Double spread) {
      if (scores == null) {
        scores = new LinkedHashMap<>();
      }
      scores.put(model, value);
      if (spread != null) {
        if (std == null) {
          std = new LinkedHashMap<>();
        }
        std.put(model, spread);
      }
      return this;
    }

    public Builder timing(String what, double ms) {
      timings.put(what, ms);
      return this;
    }

    public Builder cached(boolean value) {
      cached = value;
      return this;
    }

    /**
     * Where and how the models ran: on {@code device}, {@code batch} images to a call (null: not
     * said, as in /infer), their scores meaning {@code scales} (null: not said).
     */
    public Builder ran(String device, Integer batch, Map<String, ScoreScale> scales) {
      this.device = device;
      this.batch = batch;
      this.scales = scales;
      return this;
    }

    public Builder error(String code, String text) {
      error = code;
      message = text;
      return this;
    }

    public ScoreAnswer build() {
      return new ScoreAnswer(null, sha256, width, height, scores, std, cached, device, batch,
          timings.isEmpty() ? null : new LinkedHashMap<>(timings), scales,
          error, message);
    }
  }
}
