package io.iqa.server;

import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;

/** Writes JSON answers; an answer to a client that left, or one already sent, is dropped. */
public final class Json {

  private Json() {
  }

  public static void send(RoutingContext ctx, int status, JsonObject body) {
    send(ctx.response(), status, body);
  }

  public static void send(HttpServerResponse response, int status, JsonObject body) {
    if (response.ended() || response.closed()) {
      return;
    }
    response.setStatusCode(status).putHeader("Content-Type", "application/json").end(body.toBuffer());
  }

  /** Sends {@code e} as JSON (with {@code Retry-After} when it has one). */
  public static void send(HttpServerResponse response, HttpError e) {
    if (e.refusal().retryAfterS() != null && !response.headWritten()) {
      response.putHeader("Retry-After", Integer.toString(e.refusal().retryAfterS()));
    }
    send(response, e.refusal().status(), e.body());
  }
}
