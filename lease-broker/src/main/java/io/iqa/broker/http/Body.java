package io.iqa.broker.http;

import io.iqa.protocol.wire.WireJson;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;

/**
 * A request body, as the broker's body reader left it in the routing context and the OpenAPI
 * document checked it ({@link io.iqa.server.OpenApiRequests}): a JSON object whose every field is
 * of the type and range the document gives.
 */
public final class Body {

  /** Where the broker's body reader leaves the request body in the routing context. */
  public static final String CONTEXT_KEY = "body";

  private Body() {
  }

  /** @return the request's body as the broker's body reader left it */
  public static Buffer buffer(RoutingContext ctx) {
    return ctx.get(CONTEXT_KEY);
  }

  /** @return the checked body as a JSON object */
  public static JsonObject json(RoutingContext ctx) {
    return new JsonObject(buffer(ctx));
  }

  /** @return the checked body as the wire record {@code type} (absent and null fields null) */
  public static <T> T read(RoutingContext ctx, Class<T> type) {
    return WireJson.fromMap(json(ctx).getMap(), type);
  }
}
