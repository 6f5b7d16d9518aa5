package io.iqa.broker.http;

import io.iqa.server.HttpError;
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
 * 400 {@link HttpError} that names the field, never a 500.
 */
public final class Body {

  /** Where the broker's body reader leaves the request body in the routing context. */
  public static final String CONTEXT_KEY = "body";

  private final JsonObject json;

  private Body(JsonObject json) {
    this.json = json;
  }

  /** The request's body (read by the broker's body reader) as {@link #parse} reads it. */
  public static Body of(io.vertx.ext.web.RoutingContext ctx, Set<String> allowed) {
    return parse(ctx.get(CONTEXT_KEY), allowed);
  }

  /** @throws HttpError 400 when the body is missing, not JSON, not an object, or has unknown fields */
  public static Body parse(Buffer buffer, Set<String> allowed) {
    if (buffer == null || buffer.length() == 0) {
      throw HttpError.badRequest("request body must be a JSON object");
    }
    Object value;
    try {
      value = Json.decodeValue(buffer);
    } catch (DecodeException e) {
      throw HttpError.badRequest("request body is not valid JSON: " + firstLine(e.getMessage()));
    }
    if (!(value instanceof JsonObject json)) {
      throw HttpError.badRequest("request body must be a JSON object");
    }
    List<String> unknown = new ArrayList<>();
    for (String field : json.fieldNames()) {
      if (!allowed.contains(field)) {
        unknown.add(field);
      }
    }
    if (!unknown.isEmpty()) {
      throw HttpError.badRequest("unknown field(s) " + unknown + "; allowed: " + allowed.stream().sorted().toList());
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
      throw HttpError.badRequest(field + " must be a string");
    }
    if (s.length() > maxLength) {
      throw HttpError.badRequest(field + " must be at most " + maxLength + " characters");
    }
    if (pattern != null && !pattern.matcher(s).matches()) {
      throw HttpError.badRequest(field + " '" + printable(s) + "' must match " + pattern.pattern());
    }
    return s;
  }

  public String requiredString(String field, int maxLength, Pattern pattern) {
    String s = string(field, null, maxLength, pattern);
    if (s == null) {
      throw HttpError.badRequest(field + " is required");
    }
    return s;
  }

  public Double number(String field, Double def, double min, double max) {
    Object v = json.getValue(field);
    if (v == null) {
      return def;
    }
    if (!(v instanceof Number n)) {
      throw HttpError.badRequest(field + " must be a number");
    }
    double d = n.doubleValue();
    if (Double.isNaN(d) || Double.isInfinite(d) || d < min || d > max) {
      throw HttpError.badRequest(field + " must be between " + trim(min) + " and " + trim(max) + ", not " + trim(d));
    }
    return d;
  }

  public Boolean bool(String field) {
    Object v = json.getValue(field);
    if (v == null) {
      return null;
    }
    if (!(v instanceof Boolean b)) {
      throw HttpError.badRequest(field + " must be true or false");
    }
    return b;
  }

  public Long integer(String field, long min, long max) {
    Object v = json.getValue(field);
    if (v == null) {
      return null;
    }
    if (!(v instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue())) {
      throw HttpError.badRequest(field + " must be an integer");
    }
    double d = n.doubleValue();
    if (d < min || d > max) {
      throw HttpError.badRequest(field + " must be between " + min + " and " + max + ", not " + trim(d));
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
