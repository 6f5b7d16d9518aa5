package io.iqa.broker.http;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.Json;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * A request body read as a JSON object with typed, range-checked getters. Every problem becomes a
 * 400 {@link ApiException} that names the field, never a 500.
 */
public final class Body {

  private final JsonObject json;

  private Body(JsonObject json) {
    this.json = json;
  }

  /** @throws ApiException 400 when the body is missing, not JSON, not an object, or has unknown fields */
  public static Body parse(Buffer buffer, Set<String> allowed) {
    if (buffer == null || buffer.length() == 0) {
      throw ApiException.badRequest("request body must be a JSON object");
    }
    Object value;
    try {
      value = Json.decodeValue(buffer);
    } catch (DecodeException e) {
      throw ApiException.badRequest("request body is not valid JSON: " + firstLine(e.getMessage()));
    }
    if (!(value instanceof JsonObject json)) {
      throw ApiException.badRequest("request body must be a JSON object");
    }
    List<String> unknown = new ArrayList<>();
    for (String field : json.fieldNames()) {
      if (!allowed.contains(field)) {
        unknown.add(field);
      }
    }
    if (!unknown.isEmpty()) {
      throw ApiException.badRequest("unknown field(s) " + unknown + "; allowed: " + allowed.stream().sorted().toList());
    }
    return new Body(json);
  }

  public boolean has(String field) {
    return json.getValue(field) != null;
  }

  public String string(String field, String def, int maxLength, Pattern pattern) {
    Object v = json.getValue(field);
    if (v == null) {
      return def;
    }
    if (!(v instanceof String s)) {
      throw ApiException.badRequest(field + " must be a string");
    }
    if (s.length() > maxLength) {
      throw ApiException.badRequest(field + " must be at most " + maxLength + " characters");
    }
    if (pattern != null && !pattern.matcher(s).matches()) {
      throw ApiException.badRequest(field + " '" + printable(s) + "' must match " + pattern.pattern());
    }
    return s;
  }

  public String requiredString(String field, int maxLength, Pattern pattern) {
    String s = string(field, null, maxLength, pattern);
    if (s == null) {
      throw ApiException.badRequest(field + " is required");
    }
    return s;
  }

  public Double number(String field, Double def, double min, double max) {
    Object v = json.getValue(field);
    if (v == null) {
      return def;
    }
    if (!(v instanceof Number n)) {
      throw ApiException.badRequest(field + " must be a number");
    }
    double d = n.doubleValue();
    if (Double.isNaN(d) || Double.isInfinite(d) || d < min || d > max) {
      throw ApiException.badRequest(field + " must be between " + trim(min) + " and " + trim(max) + ", not " + trim(d));
    }
    return d;
  }

  public Boolean bool(String field) {
    Object v = json.getValue(field);
    if (v == null) {
      return null;
    }
    if (!(v instanceof Boolean b)) {
      throw ApiException.badRequest(field + " must be true or false");
    }
    return b;
  }

  public Long integer(String field, long min, long max) {
    Object v = json.getValue(field);
    if (v == null) {
      return null;
    }
    if (!(v instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue())) {
      throw ApiException.badRequest(field + " must be an integer");
    }
    double d = n.doubleValue();
    if (d < min || d > max) {
      throw ApiException.badRequest(field + " must be between " + min + " and " + max + ", not " + trim(d));
    }
    return n.longValue();
  }

  private static String trim(double d) {
    return d == Math.rint(d) && Math.abs(d) < 1e15 ? Long.toString((long) d) : Double.toString(d);
  }

  private static String printable(String s) {
    String cut = s.length() > 80 ? s.substring(0, 80) + "..." : s;
    return cut.replaceAll("\\p{Cntrl}", "?");
  }

  private static String firstLine(String s) {
    if (s == null) {
      return "";
    }
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }
}
