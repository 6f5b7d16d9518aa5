package io.iqa.protocol.wire;

import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Reading and writing the wire records' plain maps (what any JSON library turns a JSON object
 * into): a field of the wrong type reads as absent, absent fields are not written.
 */
final class WireMaps {

  private WireMaps() {
  }

  static void put(Map<String, Object> m, String key, Object value) {
    if (value != null) {
      m.put(key, value);
    }
  }

  static String text(Map<String, ?> m, String key) {
    return m.get(key) instanceof String s ? s : null;
  }

  static Number number(Map<String, ?> m, String key) {
    return m.get(key) instanceof Number n ? n : null;
  }

  static Integer integer(Map<String, ?> m, String key) {
    return number(m, key) == null ? null : number(m, key).intValue();
  }

  static Long whole(Map<String, ?> m, String key) {
    return number(m, key) == null ? null : number(m, key).longValue();
  }

  static Double decimal(Map<String, ?> m, String key) {
    return number(m, key) == null ? null : number(m, key).doubleValue();
  }

  static Instant instant(Map<String, ?> m, String key) {
    return text(m, key) == null ? null : Instant.parse(text(m, key));
  }

  /** @return the numbers of a JSON object by key, or null when {@code value} is not one */
  static Map<String, Double> numbers(Object value) {
    if (!(value instanceof Map<?, ?> in)) {
      return null;
    }
    Map<String, Double> out = new LinkedHashMap<>();
    in.forEach((k, v) -> {
      if (v instanceof Number n) {
        out.put(String.valueOf(k), n.doubleValue());
      }
    });
    return out;
  }

  /** @return {@code in} with its keys as strings */
  static Map<String, ?> keyed(Map<?, ?> in) {
    Map<String, Object> out = new LinkedHashMap<>();
    in.forEach((k, v) -> out.put(String.valueOf(k), v));
    return out;
  }
}
