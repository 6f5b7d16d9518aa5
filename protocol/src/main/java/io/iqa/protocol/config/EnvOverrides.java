package io.iqa.protocol.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import io.iqa.protocol.Text;
import java.lang.reflect.RecordComponent;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Environment variables over a configuration: {@code PREFIX_KEY} sets a top-level key,
 * {@code PREFIX_BLOCK_KEY} a key inside a block ({@code IQA_SIDECAR_BATCHING_MAX_QUEUE_DELAY_MS=2}
 * sets {@code batching.max_queue_delay_ms}); the keys and blocks are the config record's
 * components. A text key's value is its text; any other value is read as JSON when it parses
 * (numbers, booleans, lists), else as text. A
 * variable with the prefix that names no key is refused, so a typo does not go unnoticed; the
 * config reader then checks the value.
 */
public final class EnvOverrides {

  private EnvOverrides() {
  }

  /** @return a copy of {@code config} (a map, JSON tree or text) with the overrides applied */
  public static ObjectNode apply(Object config, String prefix, Map<String, String> env, Class<? extends Record> type) {
    TreeSet<String> keys = new TreeSet<>();
    Map<String, Class<?>> blocks = new TreeMap<>();
    for (RecordComponent c : type.getRecordComponents()) {
      if (c.getType().isRecord()) {
        blocks.put(ConfigReader.key(c), c.getType());
      } else {
        keys.add(ConfigReader.key(c));
      }
    }
    JsonNode tree = ConfigReader.tree(config);
    if (!(tree instanceof ObjectNode root)) {
      throw new ConfigException("the config must be a JSON object, not " + (tree.isMissingNode() ? "nothing" : tree));
    }
    ObjectNode out = root.deepCopy();
    for (Map.Entry<String, String> e : new TreeMap<>(env).entrySet()) {
      if (!e.getKey().startsWith(prefix) || e.getValue() == null || e.getValue().isBlank()) {
        continue;
      }
      String name = e.getKey().substring(prefix.length()).toLowerCase(Locale.ROOT);
      if (keys.contains(name)) {
        out.set(name, parse(e.getValue().trim(), type, name));
        continue;
      }
      int cut = name.indexOf('_');
      String block = cut < 0 ? name : name.substring(0, cut);
      if (cut < 0 || !blocks.containsKey(block)) {
        throw new ConfigException(Text.printable(e.getKey()) + " names no config key (keys: " + String.join(", ", keys)
            + "; blocks: " + String.join(", ", blocks.keySet()) + ")");
      }
      JsonNode existing = out.get(block);
      ObjectNode nested = existing instanceof ObjectNode o ? o : out.putObject(block);
      String key = name.substring(cut + 1);
      nested.set(key, parse(e.getValue().trim(), blocks.get(block), key));
    }
    return out;
  }

  /** The value of a text key (a string, a path, a name) is its text: {@code 12} is an owner, {@code null} a token. */
  private static JsonNode parse(String v, Class<?> type, String key) {
    for (RecordComponent c : type.getRecordComponents()) {
      if (ConfigReader.key(c).equals(key) && (c.getType() == String.class || c.getType() == java.nio.file.Path.class
          || c.getType().isEnum())) {
        return TextNode.valueOf(v);
      }
    }
    try {
      return ConfigReader.tree(v);
    } catch (ConfigException notJson) {
      return TextNode.valueOf(v);
    }
  }
}
