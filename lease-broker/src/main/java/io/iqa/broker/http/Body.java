package io.iqa.broker.http;

import io.iqa.protocol.Text;
import io.iqa.protocol.wire.ErrorCode;
import io.iqa.protocol.wire.WireJson;
import io.iqa.server.BodyReader;
import io.iqa.server.HttpError;
import io.iqa.server.RequestPolicy;
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
  private static final int LIMIT = 64 * 1024;

  private Body() {
  }

  /**
   * Route handler: reads a JSON body ({@code Content-Type: application/json}, 415 otherwise: see
   * {@link RequestPolicy}), capped at 64 KiB, into the context for {@link #buffer}.
   */
  public static void read(RoutingContext ctx) {
    String type = RequestPolicy.mediaType(ctx.request().getHeader("Content-Type"));
    if (type == null || !(type.equals("application/json") || type.endsWith("+json"))) {
      ctx.response().putHeader("Connection", "close"); // the body is not read
      ctx.fail(new HttpError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "the body must be JSON sent as Content-Type: "
          + "application/json" + (type == null ? "" : ", not " + Text.printable(type, 100))));
      return;
    }
    BodyReader.read(ctx.request(), LIMIT, false, null, "the broker's body limit")
        .onSuccess(body -> {
          ctx.put(CONTEXT_KEY, Buffer.buffer(body.bytes()));
          ctx.next();
        })
        .onFailure(ctx::fail);
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
