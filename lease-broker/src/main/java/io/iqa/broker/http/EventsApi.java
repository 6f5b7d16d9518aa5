package io.iqa.broker.http;

import io.iqa.broker.store.LeaseEvent;
import io.iqa.broker.store.LeaseStore;
import io.iqa.server.Json;
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

  private final LeaseStore store;
  private final SseHub hub;
  private final Set<HttpServerResponse> streams = new LinkedHashSet<>();

  public EventsApi(LeaseStore store, SseHub hub) {
    this.store = store;
    this.hub = hub;
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
    for (HttpServerResponse response : List.copyOf(streams)) {
      hub.send(response, event.type().wireName(), event.seq(), event.toJson());
    }
  }

  private void openStream(RoutingContext ctx, List<LeaseEvent> recent) {
    HttpServerResponse response = hub.open(ctx, "lease events", () -> streams.remove(ctx.response()));
    if (response == null) {
      return; // over the stream budget: refused
    }
    recent.forEach(e -> hub.send(response, e.type().wireName(), e.seq(), e.toJson()));
    streams.add(response);
  }

  private static long since(RoutingContext ctx) {
    String value = ctx.request().getParam("since");
    if (value == null) {
      value = ctx.request().getHeader("Last-Event-ID");
    }
    if (value == null) {
      return 0;
    }
    return Long.parseLong(value.trim()); // a whole number of at least 0: the document checked it
  }
}
