package io.iqa.sidecar.service;

import io.iqa.holder.HolderRules;
import io.iqa.holder.OnLeaseLost;
import io.iqa.protocol.ScoreScale;
import io.iqa.protocol.wire.WireNames;
import io.iqa.server.Json;
import io.iqa.sidecar.model.ModelEntry;
import io.iqa.sidecar.worker.ModelInfo;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import java.util.List;
import java.util.Map;

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

  /**
   * @param shuttingDown whether the front is shutting down; @param inFlight its /infer requests in flight
   * @param started whether the start is done (what {@code /health/ready} answers)
   */
  void health(RoutingContext ctx, boolean shuttingDown, int inFlight, boolean started) {
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
        .put("started", started)
        // Served now without a cold start: a worker has the models loaded.
        .put("ready", s == HolderRules.Phase.SERVING && !shuttingDown)
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

  /**
   * {@code GET /health/ready}, for a readiness probe: 200 once the start is done (the models loaded
   * once, or the sidecar idle by choice: a request then takes the GPU and loads), 503 while the start
   * runs and once shutting down. {@code /health} (200 while the process serves at all) is the
   * liveness probe.
   */
  void ready(RoutingContext ctx, boolean shuttingDown, boolean started) {
    boolean ok = started && !shuttingDown && lifecycle.state() != HolderRules.Phase.SHUTTING_DOWN;
    Json.send(ctx, ok ? 200 : 503, new JsonObject().put("ready", ok).put("state", WireNames.of(lifecycle.state()))
        .put("reason", ok ? "started" : shuttingDown ? "shutting down" : "starting: the models are loading"));
  }

  /** @param state the lifecycle state, as /health shows it */
  void models(RoutingContext ctx, String state) {
    JsonArray list = new JsonArray();
    boolean loaded = lifecycle.serving();
    Map<String, ModelInfo> known = lifecycle.models();
    for (ModelEntry e : lifecycle.entries()) {
      ModelInfo m = known.get(e.name());
      if (m != null) {
        list.add(m.toJson().put("loaded", loaded));
      } else {
        // Before the first load (the idle sidecar's most common state): what the config says.
        JsonObject j = new JsonObject().put("name", e.name()).put("backend", e.backend()).put("device", e.device());
        ScoreScale scale = e.knownScale();
        if (scale != null) {
          j.mergeIn(new JsonObject(scale.toMap()));
        }
        list.add(j.put("loaded", false));
      }
    }
    Json.send(ctx, 200, new JsonObject().put("models", list).put("state", state));
  }
}
