package io.iqa.protocol.config;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.cfg.CoercionAction;
import com.fasterxml.jackson.databind.cfg.CoercionInputShape;
import com.fasterxml.jackson.databind.type.LogicalType;
import com.fasterxml.jackson.databind.exc.InvalidTypeIdException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.exc.ValueInstantiationException;
import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.databind.deser.std.StdScalarDeserializer;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.ser.std.ToStringSerializer;
import io.iqa.protocol.Text;
import io.iqa.protocol.wire.WireJson;
import java.lang.reflect.RecordComponent;
import java.io.IOException;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.Collection;
import java.util.regex.Pattern;

/**
 * The one reader of every program's configuration. A block of config is a record, read by Jackson
 * with the wire's mapper ({@link WireJson#builder}: snake_case keys, enums by wire name), made
 * strict: an unknown key, a string where a number goes, a fraction where a whole number goes are
 * refused. The few rules Jackson does not know are annotations on the record's components
 * ({@link Range}, {@link Matches}, {@link Required}), checked here once the record is built; rules
 * between keys stay in the record's constructor, which names its own keys (the reader puts the
 * block's path in front). Every refusal is a {@link ConfigException} naming the key by its path
 * ({@code auth.tokens[0].owners}). A null value means "the default".
 */
public final class ConfigReader {

  private static final ObjectMapper MAPPER = WireJson.builder()
      .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
      .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
      .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS)
      .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
      .withCoercionConfig(LogicalType.Textual, text -> text.setCoercion(CoercionInputShape.Integer, CoercionAction.Fail)
          .setCoercion(CoercionInputShape.Float, CoercionAction.Fail)
          .setCoercion(CoercionInputShape.Boolean, CoercionAction.Fail))
      .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
      // A path is its text: Jackson's own reading takes "a:b" for a URI.
      .addModule(new SimpleModule().addSerializer(Path.class, new ToStringSerializer(Path.class))
          .addDeserializer(Path.class, new StdScalarDeserializer<Path>(Path.class) {
            @Override
            public Path deserialize(JsonParser p, DeserializationContext ctxt) throws IOException {
              if (!p.hasToken(JsonToken.VALUE_STRING) || p.getText().isBlank()) {
                return (Path) ctxt.handleUnexpectedToken(Path.class, p);
              }
              try {
                return Path.of(p.getText());
              } catch (InvalidPathException e) {
                return (Path) ctxt.handleWeirdStringValue(Path.class, p.getText(), e.getReason());
              }
            }
          }))
      .build();
  private static final PropertyNamingStrategies.NamingBase SNAKE =
      (PropertyNamingStrategies.NamingBase) PropertyNamingStrategies.SNAKE_CASE;

  private ConfigReader() {
  }

  /** @return a map, list, JSON tree or JSON text as a JSON tree */
  public static JsonNode tree(Object json) {
    if (json instanceof JsonNode n) {
      return n;
    }
    if (json instanceof String text) {
      try {
        return MAPPER.readTree(text);
      } catch (JsonProcessingException e) {
        throw new ConfigException("not JSON: " + e.getOriginalMessage(), e);
      }
    }
    return MAPPER.valueToTree(json);
  }

  /** @return {@code value} as a JSON tree in its config key names */
  public static ObjectNode toTree(Object value) {
    return MAPPER.valueToTree(value);
  }

  /** @return the config key of a record component: the name its {@code @JsonProperty} gives, else its name in snake_case */
  public static String key(RecordComponent c) {
    JsonProperty named = c.getAccessor().getAnnotation(JsonProperty.class);
    return named != null && !named.value().isEmpty() ? named.value() : SNAKE.translate(c.getName());
  }

  /**
   * Reads {@code json} as a record of {@code defaults}' type: a key it leaves out, or gives as null,
   * is the default's, block by block.
   */
  public static <T extends Record> T read(Object json, T defaults) {
    @SuppressWarnings("unchecked")
    Class<T> type = (Class<T>) defaults.getClass();
    return read(merge(MAPPER.valueToTree(defaults), tree(json)), type);
  }

  /** Reads {@code json} as a {@code type} without defaults: a key left out is null (0 or false for a primitive). */
  public static <T> T read(Object json, Class<T> type) {
    JsonNode input = tree(json);
    refuseNullEntries("", input);
    T value;
    try {
      value = MAPPER.treeToValue(input, type);
    } catch (UnrecognizedPropertyException e) {
      throw ConfigRefusal.unknown(e);
    } catch (InvalidTypeIdException e) {
      throw ConfigRefusal.typeId(e);
    } catch (JsonMappingException e) {
      for (Throwable t = e.getCause(); t != null; t = t.getCause()) {
        if (t instanceof ConfigException own) {
          throw new ConfigException(ConfigRefusal.prefix(e.getPath()) + own.getMessage(), own);
        }
      }
      if (e instanceof ValueInstantiationException && e.getCause() != null) {
        String at = ConfigRefusal.path(e.getPath());
        throw new ConfigException((at.isEmpty() ? "the config" : at) + " cannot be used: " + e.getCause(), e);
      }
      throw ConfigRefusal.mismatch(type, input, e, MAPPER);
    } catch (JsonProcessingException e) {
      throw new ConfigException("the config cannot be read: " + e.getOriginalMessage(), e);
    }
    check("", value, input);
    return value;
  }

  /** {@code input} over {@code defaults}: objects key by key, a null in {@code input} keeps the default. */
  private static JsonNode merge(JsonNode defaults, JsonNode input) {
    if (input == null || input.isNull()) {
      return defaults == null ? NullNode.getInstance() : defaults;
    }
    if (!(input instanceof ObjectNode in)) {
      return input;
    }
    ObjectNode out = defaults instanceof ObjectNode d ? d.deepCopy() : MAPPER.createObjectNode();
    in.fields().forEachRemaining(f -> {
      if (!f.getValue().isNull() || !out.has(f.getKey())) {
        out.set(f.getKey(), merge(out.get(f.getKey()), f.getValue()));
      }
    });
    return out;
  }

  /**
   * The rules Jackson does not know, on every record of {@code value}: keys {@code given} must hold,
   * ranges, patterns, no blank string.
   */
  private static void check(String path, Object value, JsonNode given) {
    if (!(value instanceof Record r)) {
      return;
    }
    for (RecordComponent c : r.getClass().getRecordComponents()) {
      Object v;
      try {
        c.getAccessor().setAccessible(true);
        v = c.getAccessor().invoke(r);
      } catch (ReflectiveOperationException e) {
        throw new IllegalStateException(e);
      }
      String name = path + key(c);
      JsonNode g = given == null ? null : given.get(key(c));
      Required required = c.getAnnotation(Required.class);
      if (required != null && (v == null || g == null || g.isNull())) {
        throw new ConfigException(name + " is required" + (required.value().isEmpty() ? "" : ": " + required.value()));
      }
      Range range = c.getAnnotation(Range.class);
      if (range != null && v instanceof Number n) {
        inRange(name, n, range, whole(c.getType()));
      }
      checkValue(name, v, c.getAnnotation(Matches.class));
      if (v instanceof Record) {
        check(name + ".", v, g);
      }
      if (v instanceof Collection<?> list) {
        int i = 0;
        for (Object e : list) {
          checkValue(name + "[" + i + "]", e, c.getAnnotation(Matches.class));
          check(name + "[" + i + "].", e, g == null ? null : g.get(i));
          i++;
        }
      }
    }
  }

  /** A string is not blank and matches its pattern; a number is finite ("NaN" and 1e400 are read as doubles). */
  private static void checkValue(String name, Object v, Matches m) {
    if (v instanceof String s && (s.isBlank() || m != null && !Pattern.compile(m.value()).matcher(s).matches())) {
      throw new ConfigException(name + " must be " + (s.isBlank() ? "a non-empty string" : m.what()) + ", not \""
          + Text.printable(s, 80) + "\"");
    }
    if (v instanceof Double d && !Double.isFinite(d) || v instanceof Float f && !Float.isFinite(f)) {
      throw new ConfigException(name + " must be a finite number, not " + v);
    }
  }

  /** A null inside a list never means a default: refused by its path before a record's constructor meets it. */
  private static void refuseNullEntries(String path, JsonNode node) {
    if (node.isArray()) {
      for (int i = 0; i < node.size(); i++) {
        if (node.get(i).isNull()) {
          throw new ConfigException(path + "[" + i + "] must not be null");
        }
        refuseNullEntries(path + "[" + i + "]", node.get(i));
      }
    }
    node.fields().forEachRemaining(f -> refuseNullEntries(path.isEmpty() ? f.getKey() : path + "." + f.getKey(),
        f.getValue()));
  }

  private static void inRange(String name, Number n, Range range, boolean whole) {
    double d = n.doubleValue();
    if (d < range.min() || d > range.max()) {
      throw new ConfigException(name + " must be between " + (whole ? (long) range.min() + " and " + (long) range.max()
          : Text.number(range.min()) + " and " + Text.number(range.max())) + ", not "
          + (whole ? String.valueOf(n.longValue()) : Text.number(d)));
    }
  }

  static boolean whole(Class<?> t) {
    return t == int.class || t == long.class || t == short.class || t == Integer.class || t == Long.class
        || t == Short.class;
  }

}
