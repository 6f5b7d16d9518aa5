package io.iqa.broker.http;

import io.iqa.protocol.wire.WatchEvent;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The broker's open server-sent-event streams: opens them with the right headers, writes frames,
 * sends a keep-alive comment every {@code keepaliveMs} so proxies and clients can tell a quiet
 * stream from a dead one, and ends them all when the broker stops. Event-loop only.
 */
public final class SseHub {

  public static final long KEEPALIVE_MS = 15_000;

  private final Vertx vertx;
  private final long keepaliveMs;
  private final Set<HttpServerResponse> open = new LinkedHashSet<>();
  private long timer = -1;

  public SseHub(Vertx vertx, long keepaliveMs) {
    this.vertx = vertx;
    this.keepaliveMs = keepaliveMs;
  }

  /** Starts a stream on {@code ctx} with a first comment line; {@code onClose} runs when the client leaves. */
  public HttpServerResponse open(RoutingContext ctx, String comment, Runnable onClose) {
    HttpServerResponse response = ctx.response();
    response.setChunked(true)
        .putHeader("Content-Type", "text/event-stream")
        .putHeader("Cache-Control", "no-cache")
        .putHeader("X-Accel-Buffering", "no");
    response.write(": " + comment + "\n\n");
    open.add(response);
    response.closeHandler(v -> {
      open.remove(response);
      onClose.run();
    });
    if (timer < 0) {
      timer = vertx.setPeriodic(keepaliveMs, t -> List.copyOf(open).forEach(r -> r.write(": keep-alive\n\n")));
    }
    return response;
  }

  /** Writes one watch-channel event; {@code id} may be null. */
  public static void send(HttpServerResponse response, WatchEvent event, Long id, JsonObject data) {
    send(response, event.wireName(), id, data);
  }

  /** Writes one event; {@code id} may be null. */
  public static void send(HttpServerResponse response, String event, Long id, JsonObject data) {
    if (!response.closed() && !response.ended()) {
      response.write((id == null ? "" : "id: " + id + "\n") + "event: " + event + "\ndata: " + data.encode() + "\n\n");
    }
  }

  /** Ends one stream. */
  public void end(HttpServerResponse response) {
    open.remove(response);
    if (!response.closed() && !response.ended()) {
      response.end();
    }
  }

  /** Ends every open stream (broker stopping). */
  public void closeAll() {
    List.copyOf(open).forEach(this::end);
    if (timer >= 0) {
      vertx.cancelTimer(timer);
      timer = -1;
    }
  }
}
