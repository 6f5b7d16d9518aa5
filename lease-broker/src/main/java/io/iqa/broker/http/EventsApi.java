package io.iqa.broker.http;

import io.iqa.broker.store.LeaseEvent;
import io.iqa.broker.store.LeaseStore;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * {@code GET /v1/gpu/events}: recent lease events as JSON (newest last), or, with
 * {@code Accept: text/event-stream}, the recent ones followed by every new one as server-sent events.
 * {@code ?since=SEQ} (or {@code Last-Event-ID}) skips events up to that sequence number.
 */
public final class EventsApi {

  private static final long KEEPALIVE_MS = 15_000;
  private final Vertx vertx;
  private final LeaseStore store;
  private final Set<HttpServerResponse> streams = new LinkedHashSet<>();
  private long keepalive = -1;

  public EventsApi(Vertx vertx, LeaseStore store) {
    this.vertx = vertx;
    this.store = store;
  }

  public void events(RoutingContext ctx) {
    long since = since(ctx);
    String accept = ctx.request().getHeader("Accept");
    boolean stream = accept != null && accept.contains("text/event-stream");
    store.events().onSuccess(events -> {
      List<LeaseEvent> recent = events.stream().filter(e -> e.seq() > since).toList();
      if (stream) {
        openStream(ctx, recent);
      } else {
        JsonArray list = new JsonArray();
        recent.forEach(e -> list.add(e.toJson()));
        Json.send(ctx, 200, new JsonObject().put("events", list));
      }
    }).onFailure(ctx::fail);
  }

  /** Pushes an event to every open stream. */
  public void publish(LeaseEvent event) {
    if (streams.isEmpty()) {
      return;
    }
    String frame = frame(event);
    for (HttpServerResponse response : List.copyOf(streams)) {
      response.write(frame);
    }
  }

  /** Ends every open stream (broker stopping). */
  public void closeAll() {
    List.copyOf(streams).forEach(HttpServerResponse::end);
    streams.clear();
    if (keepalive >= 0) {
      vertx.cancelTimer(keepalive);
    }
  }

  private void openStream(RoutingContext ctx, List<LeaseEvent> recent) {
    HttpServerResponse response = ctx.response();
    response.setChunked(true)
        .putHeader("Content-Type", "text/event-stream")
        .putHeader("Cache-Control", "no-cache")
        .putHeader("X-Accel-Buffering", "no");
    response.write(": lease events\n\n");
    recent.forEach(e -> response.write(frame(e)));
    streams.add(response);
    response.closeHandler(v -> streams.remove(response));
    if (keepalive < 0) {
      keepalive = vertx.setPeriodic(KEEPALIVE_MS, t -> List.copyOf(streams).forEach(r -> r.write(": keep-alive\n\n")));
    }
  }

  private static String frame(LeaseEvent e) {
    return "id: " + e.seq() + "\nevent: " + e.type() + "\ndata: " + e.toJson().encode() + "\n\n";
  }

  private static long since(RoutingContext ctx) {
    String value = ctx.request().getParam("since");
    if (value == null) {
      value = ctx.request().getHeader("Last-Event-ID");
    }
    if (value == null) {
      return 0;
    }
    try {
      return Long.parseLong(value.trim());
    } catch (NumberFormatException e) {
      throw ApiException.badRequest("since must be an event sequence number, not '" + value + "'");
    }
  }
}
