package io.iqa.protocol.config;

import io.iqa.protocol.Text;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;

/**
 * Environment variables over a configuration: {@code PREFIX_KEY} sets a top-level key,
 * {@code PREFIX_BLOCK_KEY} a key inside a block ({@code IQA_SIDECAR_BATCHING_MAX_QUEUE_DELAY_MS=2}
 * sets {@code batching.max_queue_delay_ms}). Values are read as JSON when they parse (numbers,
 * booleans, lists), else as text. A variable with the prefix that names no key is refused, so a
 * typo does not go unnoticed; the typed options then check the value.
 */
public final class EnvOverrides {

  private EnvOverrides() {
  }

  /**
   * @param keys the top-level keys that take a plain value
   * @param blocks the block names (no underscore in them)
   * @param json parses a JSON text, or throws
   * @return a copy of {@code config} with the overrides applied
   */
  public static Map<String, Object> apply(Map<String, Object> config, String prefix, Map<String, String> env,
      Set<String> keys, Set<String> blocks, Function<String, Object> json) {
    Map<String, Object> out = new LinkedHashMap<>(config);
    for (Map.Entry<String, String> e : new TreeMap<>(env).entrySet()) {
      if (!e.getKey().startsWith(prefix) || e.getValue() == null || e.getValue().isBlank()) {
        continue;
      }
      String name = e.getKey().substring(prefix.length()).toLowerCase(Locale.ROOT);
      Object value = parse(e.getValue().trim(), json);
      if (keys.contains(name)) {
        out.put(name, value);
        continue;
      }
      int cut = name.indexOf('_');
      String block = cut < 0 ? name : name.substring(0, cut);
      if (cut < 0 || !blocks.contains(block)) {
        throw new ConfigException(Text.printable(e.getKey()) + " names no config key (keys: "
            + String.join(", ", keys.stream().sorted().toList())
            + "; blocks: " + String.join(", ", blocks.stream().sorted().toList()) + ")");
      }
      Object existing = out.get(block);
      @SuppressWarnings("unchecked")
      Map<String, Object> nested = existing instanceof Map<?, ?> m
          ? new LinkedHashMap<>((Map<String, Object>) m) : new LinkedHashMap<>();
      nested.put(name.substring(cut + 1), value);
      out.put(block, nested);
    }
    return out;
  }

  private static Object parse(String v, Function<String, Object> json) {
    try {
      return json.apply(v);
    } catch (RuntimeException notJson) {
      return v;
    }
  }
}
