package io.iqa.broker.http;

import io.iqa.protocol.config.ConfigNode;
import io.iqa.server.HttpError;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.Json;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;

/**
 * A request body read as a JSON object, then checked field by field with the protocol's typed
 * getters ({@link ConfigNode#document}): every problem is a 400 that names the field, never a 500.
 */
public final class Body {

  /** Where the broker's body reader leaves the request body in the routing context. */
  public static final String CONTEXT_KEY = "body";

  private Body() {
  }

  /** The request's body (read by the broker's body reader) as {@link #parse} reads it. */
  public static ConfigNode of(RoutingContext ctx) {
    return parse(ctx.get(CONTEXT_KEY));
  }

  /** @throws HttpError 400 when the body is missing, not JSON or not an object */
  public static ConfigNode parse(Buffer buffer) {
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
    return ConfigNode.document(json.getMap());
  }

  private static String firstLine(String s) {
    if (s == null) {
      return "";
    }
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }
}
