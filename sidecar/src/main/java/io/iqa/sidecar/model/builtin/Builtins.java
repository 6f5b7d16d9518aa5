package io.iqa.sidecar.model.builtin;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;

/**
 * The built-in models, which need no download: the five technical measures
 * ({@link TechnicalModels}) and BRISQUE ({@link BrisqueModel}). Together they are the default set.
 */
public final class Builtins {

  /** Every built-in model, in the order the default set reports them. */
  public static final List<String> NAMES;

  static {
    List<String> names = new ArrayList<>(TechnicalModels.NAMES);
    names.add(BrisqueModel.NAME);
    NAMES = List.copyOf(names);
  }

  private Builtins() {
  }

  /** The config entries of the whole default set ({@code {"name": ..., "backend": "builtin"}}), in order. */
  public static JsonArray entries() {
    JsonArray list = new JsonArray();
    NAMES.forEach(n -> list.add(new JsonObject().put("name", n).put("backend", "builtin")));
    return list;
  }
}
