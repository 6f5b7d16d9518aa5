package io.iqa.sidecar.model;

import io.iqa.protocol.ScoreScale;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/** A {@link ScoreScale} as the sidecar's answers carry it: {@code range} ([min, max] or null) and {@code higher_is_better}. */
public final class Scales {

  private Scales() {
  }

  public static JsonObject toJson(ScoreScale s) {
    return new JsonObject().put("range", s.min() == null ? null : new JsonArray().add(s.min()).add(s.max()))
        .put("higher_is_better", s.higherIsBetter());
  }

  public static ScoreScale fromJson(JsonObject j) {
    JsonArray r = j.getJsonArray("range");
    return new ScoreScale(r == null ? null : r.getDouble(0), r == null ? null : r.getDouble(1),
        j.getBoolean("higher_is_better", true));
  }
}
