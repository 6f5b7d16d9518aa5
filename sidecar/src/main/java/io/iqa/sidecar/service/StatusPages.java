package io.iqa.sidecar.service;

import io.iqa.holder.HolderRules;
import io.iqa.holder.OnLeaseLost;
import io.iqa.server.Json;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import java.util.List;

/**
 * {@code GET /health} and {@code GET /v1/models}: the lifecycle's state, the models and where they
 * run, the cache, the queue and the front's own counters, as JSON.
 */
final class StatusPages {

  private final SidecarOptions options;
  private final Lifecycle lifecycle;
  private final ScoreService service;
  private final long startedNanos;

  /** @param startedNanos nanoTime when the front was made (uptime counts from it) */
  StatusPages(SidecarOptions options, Lifecycle lifecycle, ScoreService service, long startedNanos) {
    this.options = options;
    this.lifecycle = lifecycle;
    this.service = service;
    this.startedNanos = startedNanos;
  }

  /** @param shuttingDown whether the front is shutting down; @param inFlight its /infer requests in flight */
  void health(RoutingContext ctx, boolean shuttingDown, int inFlight) {
    JsonObject fallbacks = new JsonObject();
    lifecycle.models().forEach((name, m) -> {
      if (m != null && m.fallbackReason() != null) {
        fallbacks.put(name, m.fallbackReason());
      }
    });
    HolderRules.Phase s = lifecycle.state();
    JsonObject health = new JsonObject()
        .put("status", s == HolderRules.Phase.SHUTTING_DOWN || shuttingDown ? "shutting_down"
            : s == HolderRules.Phase.LEASE_LOST && options.onLeaseLost() == OnLeaseLost.EXIT
            ? "lease_lost" : "ok")
        .put("device", lifecycle.devices().isEmpty() ? null : lifecycle.devices())
        .put("models", new JsonArray(List.copyOf(lifecycle.models().keySet())))
        .mergeIn(lifecycle.health())
        .put("cache", service.cacheStats())
        .put("queued", service.queued())
        .put("in_flight", inFlight)
        .put("uptime_s", (System.nanoTime() - startedNanos) / 1_000_000_000L);
    if (!fallbacks.isEmpty()) {
      health.put("device_fallbacks", fallbacks);
    }
    Json.send(ctx, 200, health);
  }

  /** @param state the lifecycle state, as /health shows it */
  void models(RoutingContext ctx, String state) {
    JsonArray list = new JsonArray();
    boolean loaded = lifecycle.serving();
    lifecycle.models().forEach((name, m) -> list.add(m == null
        ? new JsonObject().put("name", name).put("loaded", false)
        : m.toJson().put("loaded", loaded)));
    Json.send(ctx, 200, new JsonObject().put("models", list).put("state", state));
  }
}
