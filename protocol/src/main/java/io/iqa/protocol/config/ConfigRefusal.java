package io.iqa.protocol.config;

import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.exc.InvalidTypeIdException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import io.iqa.protocol.Text;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.RecordComponent;
import java.lang.reflect.Type;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.TreeSet;

/** What {@link ConfigReader} says when Jackson refuses a config: the key by its path, what it takes, what it got. */
final class ConfigRefusal {

  private ConfigRefusal() {
  }

  /** A key the record does not have, with the keys it has. */
  static ConfigException unknown(UnrecognizedPropertyException e) {
    String parent = path(e.getPath().subList(0, e.getPath().size() - 1));
    TreeSet<String> known = new TreeSet<>();
    e.getKnownPropertyIds().forEach(k -> known.add(String.valueOf(k)));
    return new ConfigException("unknown config key '" + Text.printable(path(e.getPath()), 80) + "' ("
        + (parent.isEmpty() ? "known keys" : parent + " takes") + ": " + String.join(", ", known) + ")", e);
  }

  /** A missing or unknown type key ({@code backend}) of a block whose keys depend on it. */
  static ConfigException typeId(InvalidTypeIdException e) {
    JsonTypeInfo info = e.getBaseType().getRawClass().getAnnotation(JsonTypeInfo.class);
    JsonSubTypes subtypes = e.getBaseType().getRawClass().getAnnotation(JsonSubTypes.class);
    String property = prefix(e.getPath()) + (info == null ? "type" : info.property());
    String choices = subtypes == null ? "" : String.join(", ", Arrays.stream(subtypes.value())
        .map(t -> "'" + t.name() + "'").sorted().toList());
    return new ConfigException(e.getTypeId() == null ? property + " is required: one of " + choices
        : property + " must be one of " + choices + ", not \"" + Text.printable(e.getTypeId(), 80) + "\"", e);
  }

  /** A value of the wrong type: named by its path, with what the key takes and what it was given. */
  static ConfigException mismatch(Class<?> root, JsonNode input, JsonMappingException e, ObjectMapper mapper) {
    Type type = root;
    RecordComponent component = null;
    JsonNode given = input;
    for (JsonMappingException.Reference ref : e.getPath()) {
      if (ref.getFieldName() != null) {
        // The record being read: the reference names it (a list's element may be a subtype of the list's type).
        Class<?> owner = ref.getFrom() instanceof Class<?> c ? c : ref.getFrom() != null ? ref.getFrom().getClass()
            : raw(type);
        component = componentOf(owner.isRecord() ? owner : raw(type), ref.getFieldName());
        type = component == null ? Object.class : component.getGenericType();
        given = given == null ? null : given.get(ref.getFieldName());
      } else {
        type = elementOf(type);
        component = null;
        given = given == null ? null : given.get(ref.getIndex());
      }
    }
    String name = path(e.getPath());
    String expected = expected(type, component, mapper);
    boolean text = expected.startsWith("one of") || expected.equals("a path")
        || component != null && component.getAnnotation(Matches.class) != null;
    return new ConfigException((name.isEmpty() ? "the config" : name) + " must be " + expected + ", not "
        + shown(given, !text), e);
  }

  private static String expected(Type type, RecordComponent c, ObjectMapper mapper) {
    Class<?> raw = raw(type);
    Range range = c == null ? null : c.getAnnotation(Range.class);
    if (ConfigReader.whole(raw)) {
      return "a whole number" + (range == null ? "" : " between " + (long) range.min() + " and " + (long) range.max());
    }
    if (raw == double.class || raw == Double.class || raw == float.class || raw == Float.class) {
      return "a number" + (range == null ? "" : " between " + Text.number(range.min()) + " and "
          + Text.number(range.max()));
    }
    if (raw == boolean.class || raw == Boolean.class) {
      return "true or false";
    }
    if (raw.isEnum()) {
      List<String> names = new ArrayList<>();
      for (Object constant : raw.getEnumConstants()) {
        names.add("'" + mapper.convertValue(constant, String.class) + "'");
      }
      return "one of " + String.join(", ", new TreeSet<>(names));
    }
    if (Collection.class.isAssignableFrom(raw)) {
      Class<?> element = raw(elementOf(type));
      return element == String.class ? "a list of strings" : element.isRecord() ? "a list of objects"
          : "a list of " + expected(element, null, mapper).replaceFirst("^an? ", "") + "s";
    }
    if (java.nio.file.Path.class.isAssignableFrom(raw)) {
      return "a path";
    }
    if (raw.isRecord() || raw.isInterface() || JsonNode.class.isAssignableFrom(raw)) {
      return "an object";
    }
    return "a non-empty string";
  }

  private static String shown(JsonNode v, boolean sayString) {
    if (v == null || v.isMissingNode()) {
      return "nothing";
    }
    return v.isTextual() ? "\"" + Text.printable(v.asText(), 80) + "\"" + (sayString ? " (a string)" : "")
        : v.isObject() ? "an object" : v.isArray() ? "a list" : Text.printable(v.toString(), 80);
  }

  private static RecordComponent componentOf(Class<?> type, String key) {
    if (type.isRecord()) {
      for (RecordComponent c : type.getRecordComponents()) {
        if (ConfigReader.key(c).equals(key)) {
          return c;
        }
      }
    }
    return null;
  }

  private static Type elementOf(Type type) {
    return type instanceof ParameterizedType p && p.getActualTypeArguments().length == 1
        ? p.getActualTypeArguments()[0] : Object.class;
  }

  private static Class<?> raw(Type type) {
    return type instanceof Class<?> c ? c : type instanceof ParameterizedType p ? (Class<?>) p.getRawType()
        : Object.class;
  }

  static String prefix(List<JsonMappingException.Reference> refs) {
    String p = path(refs);
    return p.isEmpty() ? "" : p + ".";
  }

  static String path(List<JsonMappingException.Reference> refs) {
    StringBuilder s = new StringBuilder();
    for (JsonMappingException.Reference ref : refs) {
      if (ref.getFieldName() != null) {
        s.append(s.length() == 0 ? "" : ".").append(ref.getFieldName());
      } else if (ref.getIndex() >= 0) {
        s.append('[').append(ref.getIndex()).append(']');
      }
    }
    return s.toString();
  }
}
