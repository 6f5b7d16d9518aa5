package io.iqa.protocol.config;

import io.iqa.protocol.Text;
import io.iqa.protocol.wire.WireNames;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * One block of a program's configuration, as JSON reads it (maps, lists, strings, numbers,
 * booleans, nulls), with getters that check the type and the range and name the key by its path
 * when they refuse it. {@link #known} refuses keys nobody reads, so a typo never falls back to a
 * default silently. A null value means "the default".
 */
public final class ConfigNode {

  private final Map<String, Object> map;
  private final String path;

  private ConfigNode(Map<String, Object> map, String path) {
    this.map = map;
    this.path = path;
  }

  /** The top level of a configuration: what it refuses is a {@link ConfigException}. */
  public static ConfigNode root(Map<String, ?> map) {
    return new ConfigNode(copy(map), "");
  }

  private static ConfigException refuse(String message) {
    return new ConfigException(message);
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> copy(Map<String, ?> map) {
    return map == null ? new LinkedHashMap<>() : new LinkedHashMap<>((Map<String, Object>) map);
  }

  /** @throws ConfigException naming every key of this block that is not in {@code keys} */
  public ConfigNode known(Set<String> keys) {
    List<String> unknown = new ArrayList<>();
    for (String k : map.keySet()) {
      if (!keys.contains(k)) {
        unknown.add(path + k);
      }
    }
    if (!unknown.isEmpty()) {
      throw refuse("unknown config key" + (unknown.size() > 1 ? "s " : " ") + quoted(unknown) + " ("
          + (path.isEmpty() ? "known keys" : path.substring(0, path.length() - 1) + " takes") + ": "
          + String.join(", ", new TreeSet<>(keys)) + ")");
    }
    return this;
  }

  public boolean has(String key) {
    return map.get(key) != null;
  }

  /** @return the path of {@code key} in the configuration, for messages */
  public String name(String key) {
    return path + key;
  }

  /** A nested object; an absent or null one reads as empty. */
  public ConfigNode block(String key) {
    Object v = map.get(key);
    if (v == null) {
      return new ConfigNode(new LinkedHashMap<>(), path + key + ".");
    }
    if (!(v instanceof Map<?, ?> m)) {
      throw wrongType(key, "an object", v);
    }
    return new ConfigNode(copy(cast(m)), path + key + ".");
  }

  /** The objects of a list. */
  public List<ConfigNode> blocks(String key) {
    Object v = map.get(key);
    List<ConfigNode> out = new ArrayList<>();
    if (v == null) {
      return out;
    }
    if (!(v instanceof List<?> list)) {
      throw wrongType(key, "a list of objects", v);
    }
    for (int i = 0; i < list.size(); i++) {
      if (!(list.get(i) instanceof Map<?, ?> m)) {
        throw wrongType(key + "[" + i + "]", "an object", list.get(i));
      }
      out.add(new ConfigNode(copy(cast(m)), path + key + "[" + i + "]."));
    }
    return out;
  }

  public String string(String key, String def) {
    Object v = map.get(key);
    if (v == null) {
      return def;
    }
    if (!(v instanceof String s) || s.isBlank()) {
      throw wrongType(key, "a non-empty string", v);
    }
    return s;
  }

  /** A string that must match {@code pattern}. */
  public String string(String key, String def, Pattern pattern, String what) {
    String s = string(key, def);
    if (s != null && !pattern.matcher(s).matches()) {
      throw refuse(name(key) + " must be " + what + ", not \"" + Text.printable(s, 80) + "\"");
    }
    return s;
  }

  /** A string that must be present and match {@code pattern}. */
  public String requiredString(String key, Pattern pattern, String what) {
    String s = string(key, null, pattern, what);
    if (s == null) {
      throw refuse(name(key) + " is required");
    }
    return s;
  }

  /** A string that must be one of {@code choices}. */
  public String choice(String key, String def, Set<String> choices) {
    String s = string(key, def);
    if (s != null && !choices.contains(s)) {
      throw refuse(name(key) + " must be one of " + quoted(new ArrayList<>(new TreeSet<>(choices)))
          + ", not \"" + Text.printable(s, 80) + "\"");
    }
    return s;
  }

  public boolean bool(String key, boolean def) {
    Object v = map.get(key);
    if (v == null) {
      return def;
    }
    if (!(v instanceof Boolean b)) {
      throw wrongType(key, "true or false", v);
    }
    return b;
  }

  public double number(String key, double def, double min, double max) {
    Double d = optionalNumber(key, min, max);
    return d == null ? def : d;
  }

  /** @return the number, or null when absent */
  public Double optionalNumber(String key, double min, double max) {
    Object v = map.get(key);
    if (v != null && !(v instanceof Number n && !Double.isNaN(n.doubleValue()))) {
      throw wrongType(key, "a number between " + Text.number(min) + " and " + Text.number(max), v);
    }
    return v == null ? null : inRange(key, ((Number) v).doubleValue(), min, max);
  }

  public long integer(String key, long def, long min, long max) {
    Long l = optionalInteger(key, min, max);
    return l == null ? def : l;
  }

  /** @return the whole number, or null when absent */
  public Long optionalInteger(String key, long min, long max) {
    Object v = map.get(key);
    if (v != null && !(v instanceof Number n && n.doubleValue() == Math.rint(n.doubleValue()))) {
      throw wrongType(key, "a whole number between " + min + " and " + max, v);
    }
    if (v == null) {
      return null;
    }
    Number n = (Number) v;
    if (!(n instanceof Long || n instanceof Integer || n instanceof Short || n instanceof Byte)) {
      // A big or fractional-typed number: compared exactly before it becomes a long, which would wrap
      // (2^64 + 1 is not 1).
      java.math.BigDecimal exact = n instanceof java.math.BigInteger b ? new java.math.BigDecimal(b)
          : new java.math.BigDecimal(n.toString());
      if (exact.compareTo(java.math.BigDecimal.valueOf(min)) < 0 || exact.compareTo(java.math.BigDecimal.valueOf(max)) > 0) {
        throw refuse(name(key) + " must be between " + min + " and " + max + ", not "
            + Text.printable(exact.toPlainString(), 40));
      }
    }
    return inRange(key, n.longValue(), min, max);
  }

  /** Refuses {@code key} with {@code message} the way this node refuses anything (a config error, or a 400). */
  public RuntimeException refuse(String key, String message) {
    return refuse(name(key) + " " + message);
  }

  /** A constant of {@code type} named by its wire name ({@link WireNames}). */
  public <E extends Enum<E>> E choice(String key, E def, Class<E> type) {
    String s = string(key, null);
    if (s == null) {
      return def;
    }
    E e = WireNames.find(type, s);
    if (e == null) {
      throw refuse(name(key) + " must be " + WireNames.choices(type) + ", not \"" + Text.printable(s, 80) + "\"");
    }
    return e;
  }

  /** A list of strings; absent or null gives {@code def}. */
  public List<String> strings(String key, List<String> def) {
    Object v = map.get(key);
    if (v == null) {
      return def;
    }
    if (!(v instanceof List<?> list) || list.stream().anyMatch(e -> !(e instanceof String))) {
      throw wrongType(key, "a list of strings", v);
    }
    List<String> out = new ArrayList<>();
    list.forEach(e -> out.add((String) e));
    return out;
  }

  /** The raw value (for parts that check themselves, such as model entries). */
  public Object raw(String key) {
    return map.get(key);
  }

  /** The block's raw map. */
  public Map<String, Object> map() {
    return map;
  }

  private double inRange(String key, double d, double min, double max) {
    if (d < min || d > max) {
      throw refuse(name(key) + " must be between " + Text.number(min) + " and " + Text.number(max) + ", not "
          + Text.number(d));
    }
    return d;
  }

  /** {@link #inRange(String, double, double, double)} for whole numbers, compared exactly. */
  private long inRange(String key, long l, long min, long max) {
    if (l < min || l > max) {
      throw refuse(name(key) + " must be between " + min + " and " + max + ", not " + l);
    }
    return l;
  }

  private RuntimeException wrongType(String key, String expected, Object v) {
    String shown = v instanceof String s ? "\"" + Text.printable(s, 80) + "\" (a string)"
        : v instanceof Map ? "an object" : v instanceof List ? "a list" : Text.printable(String.valueOf(v), 80);
    return refuse(name(key) + " must be " + expected + ", not " + shown);
  }

  private static String quoted(List<String> names) {
    List<String> q = new ArrayList<>();
    names.forEach(n -> q.add("'" + Text.printable(n, 80) + "'"));
    return String.join(", ", q);
  }

  @SuppressWarnings("unchecked")
  private static Map<String, ?> cast(Map<?, ?> m) {
    return (Map<String, ?>) m;
  }
}
