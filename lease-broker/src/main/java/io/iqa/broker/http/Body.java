package io.iqa.broker.http;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import io.iqa.protocol.Text;
import io.iqa.protocol.wire.ErrorCode;
import io.iqa.protocol.wire.WireJson;
import io.iqa.server.BodyReader;
import io.iqa.server.HttpError;
import io.iqa.server.OpenApiRequests;
import io.iqa.server.RequestPolicy;
import io.vertx.core.buffer.Buffer;
import io.vertx.ext.web.RoutingContext;
import java.util.Map;

/**
 * A request body, as the broker's body reader left it in the routing context and the OpenAPI
 * document checked and decoded it ({@link OpenApiRequests}): a JSON object whose every field is
 * of the type and range the document gives.
 */
public final class Body {

  /** Where the broker's body reader leaves the request body in the routing context. */
  public static final String CONTEXT_KEY = "body";
  private static final int LIMIT = 64 * 1024;
  private static final TypeReference<Map<String, Object>> MAP = new TypeReference<>() { };

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

  /** @return the body the route's {@link OpenApiRequests} check decoded, as plain maps */
  public static Map<String, Object> map(RoutingContext ctx) {
    return WireJson.MAPPER.convertValue(checked(ctx), MAP);
  }

  /** @return the body the route's {@link OpenApiRequests} check decoded, as the wire record {@code type} */
  public static <T> T as(RoutingContext ctx, Class<T> type) {
    return WireJson.fromTree(checked(ctx), type);
  }

  private static JsonNode checked(RoutingContext ctx) {
    return ctx.get(OpenApiRequests.CHECKED_BODY);
  }
}
