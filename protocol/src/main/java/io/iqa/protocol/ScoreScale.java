package io.iqa.protocol;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

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
    return (min == null ? "" : Text.number(min) + "-" + Text.number(max) + ", ") + (higherIsBetter ? "higher" : "lower")
        + " is better";
  }

  /** @return the wire form: {@code {"range": [min, max] or null, "higher_is_better": ...}} */
  @JsonValue
  public Map<String, Object> toMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("range", min == null ? null : List.of(min, max));
    m.put("higher_is_better", higherIsBetter);
    return m;
  }

  /** @return the scale a wire map states; a missing direction is higher-is-better */
  @JsonCreator(mode = JsonCreator.Mode.DELEGATING)
  public static ScoreScale fromMap(Map<String, ?> m) {
    Object range = m.get("range");
    Object higher = m.get("higher_is_better");
    List<Object> r = new ArrayList<>();
    if (range instanceof Iterable<?> values) { // a List, or a JSON library's array type
      values.forEach(r::add);
    }
    if (r.size() == 2 && r.get(0) instanceof Number lo && r.get(1) instanceof Number hi) {
      return new ScoreScale(lo.doubleValue(), hi.doubleValue(), !Boolean.FALSE.equals(higher));
    }
    return new ScoreScale(null, null, !Boolean.FALSE.equals(higher));
  }

}
