package io.iqa.protocol;

/**
 * What a model's scores mean: their nominal {@code range} (null bounds when unknown) and whether a
 * higher score is a better image. On the wire (the sidecar's {@code /v1/models}, {@code score}'s
 * output): {@code "range": [min, max]} (or null) and {@code "higher_is_better"}. Shown in the
 * {@code iqa} table header; a model entry may state its own.
 */
public record ScoreScale(Double min, Double max, boolean higherIsBetter) {

  /** Nothing known: an ONNX model with a plain output that its entry does not describe. */
  public static final ScoreScale UNKNOWN = new ScoreScale(null, null, true);
  public static final ScoreScale PERCENT = new ScoreScale(0.0, 100.0, true);

  /** For a table header: {@code 0-100, higher is better}. */
  public String describe() {
    return (min == null ? "" : trim(min) + "-" + trim(max) + ", ") + (higherIsBetter ? "higher" : "lower")
        + " is better";
  }

  private static String trim(double v) {
    return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
  }
}
