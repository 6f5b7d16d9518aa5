package io.iqa.server;

import io.iqa.protocol.config.ConfigNode;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Vert.x JSON to the plain maps and lists {@link ConfigNode} reads. */
public final class ConfigJson {

  private ConfigJson() {
  }

  public static ConfigNode root(JsonObject json) {
    return ConfigNode.root(plain(json));
  }

  @SuppressWarnings("unchecked")
  public static Map<String, Object> plain(JsonObject json) {
    return (Map<String, Object>) plainValue(json);
  }

  private static Object plainValue(Object v) {
    if (v instanceof JsonObject o) {
      return plainValue(o.getMap());
    }
    if (v instanceof JsonArray a) {
      return plainValue(a.getList());
    }
    if (v instanceof Map<?, ?> m) {
      Map<String, Object> out = new LinkedHashMap<>();
      m.forEach((k, val) -> out.put(String.valueOf(k), plainValue(val)));
      return out;
    }
    if (v instanceof List<?> l) {
      List<Object> out = new ArrayList<>();
      l.forEach(e -> out.add(plainValue(e)));
      return out;
    }
    return v;
  }
}
