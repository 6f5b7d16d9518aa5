package io.iqa.broker;

import io.iqa.broker.gpu.GpuDevice;
import io.iqa.broker.gpu.NvidiaSmi;
import io.iqa.broker.http.BearerAuth;
import io.iqa.broker.http.Body;
import io.iqa.broker.http.EventsApi;
import io.iqa.broker.http.LeaseApi;
import io.iqa.broker.http.OperatorPage;
import io.iqa.broker.http.SseHub;
import io.iqa.broker.http.WatchApi;
import io.iqa.broker.gpu.GpuObserver;
import io.iqa.broker.lease.Holders;
import io.iqa.broker.lease.Reaper;
import io.iqa.broker.lease.Timers;
import io.iqa.broker.lease.Waiters;
import io.iqa.broker.store.LeaseEvent;
import io.iqa.broker.store.LeaseEventType;
import io.iqa.broker.store.LeaseStore;
import io.iqa.broker.store.StoreException;
import io.iqa.broker.store.StoreListener;
import io.iqa.broker.store.StoreSettings;
import io.iqa.broker.store.memory.MemoryLeaseStore;
import io.iqa.broker.store.redis.RedisLeaseStore;
import io.iqa.server.ErrorRenderer;
import io.iqa.server.GuardedServer;
import io.iqa.server.Json;
import io.iqa.server.OpenApiRequests;
import io.iqa.server.Routes;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The lease broker service: detects devices, starts the store, serves the v1 API and runs the
 * reaper that ends expired leases and leases whose holder process has exited.
 */
public final class BrokerVerticle extends VerticleBase {

  private static final Logger LOG = LoggerFactory.getLogger(BrokerVerticle.class);
  /** The document /openapi.json serves, and every request is checked against. */
  private static final String OPENAPI = "io/iqa/broker/openapi.json";
  /** The first end of a lease (a revocation counts; how it finished is counted apart). */

  private final BrokerOptions options;
  private final boolean fresh;
  private final Holders holders;
  private final long startedNanos = System.nanoTime();
  private List<GpuDevice> gpus;
  private LeaseStore store;
  private Waiters waiters;
  private EventsApi eventsApi;
  private WatchApi watchApi;
  private SseHub sse;
  private BrokerMetrics metrics;
  private GpuObserver observer;
  private HttpServer server;
  private long reaper = -1;
  private volatile boolean stopping;
  private boolean storeDown;

  /** @param fresh the operator says no lease from an earlier run can be alive (--fresh): no recovery period */
  public BrokerVerticle(BrokerOptions options, boolean fresh) {
    this.options = options;
    this.fresh = fresh;
    this.holders = new Holders();
  }

  @Override
  public Future<?> start() {
    NvidiaSmi smi = new NvidiaSmi(options.nvidiaSmi());
    return vertx.executeBlocking(() -> options.gpus() != null ? options.gpus() : smi.detect())
        .compose(detected -> {
          gpus = detected;
          store = createStore();
          waiters = new Waiters(Timers.of(vertx), store);
          sse = new SseHub(vertx, SseHub.KEEPALIVE_MS, options.streamLimits());
          eventsApi = new EventsApi(store, sse);
          watchApi = new WatchApi(store, sse);
          observer = new GpuObserver(vertx, smi, holders, store, options.observeIntervalMs());
          metrics = new BrokerMetrics(gpus, observer::latest);
          return store.start(gpus, new Listener());
        })
        .compose(v -> GuardedServer.listen(vertx, router(OpenApiRequests.load(OPENAPI)), options.listening()))
        .onSuccess(s -> {
          server = s;
          if (options.authTokens().isEmpty() && !isLoopback(options.host())) {
            LOG.warn("listening on {} with auth OFF: anyone who can reach this port can take and force-release "
                + "GPU leases. Configure auth.tokens or bind to 127.0.0.1.", options.host());
          }
          reaper = vertx.setPeriodic(options.reaperIntervalMs(), t -> reap());
          observer.start();
          LOG.info("lease broker listening on http://{}:{} (store {}, gpus {}, auth {}, stale_max_age_s {}, transport {})",
              options.host(), s.actualPort(), store.type(), describe(gpus),
              options.authTokens().isEmpty() ? "off" : options.authTokens().size() + " token(s)", options.staleMaxAgeS(),
              vertx.isNativeTransportEnabled() ? "native" : "nio");
        });
  }

  @Override
  public Future<?> stop() {
    stopping = true;
    if (reaper >= 0) {
      vertx.cancelTimer(reaper);
    }
    if (observer != null) {
      observer.stop();
    }
    if (waiters != null) {
      waiters.closeAll();
    }
    if (sse != null) {
      sse.closeAll();
    }
    Future<Void> closed = server == null ? Future.succeededFuture() : server.close();
    return closed.eventually(() -> store == null ? Future.succeededFuture() : store.close());
  }

  /** @return the port the server listens on (useful with port 0) */
  public int actualPort() {
    return server.actualPort();
  }

  public List<GpuDevice> gpus() {
    return gpus;
  }

  private LeaseStore createStore() {
    StoreSettings settings = new StoreSettings(
        Math.round(options.staleMaxAgeS() * 1000),
        Math.round(options.priorityAgingS() * 1000),
        options.eventsMax(),
        Math.max(3_600_000L, Math.round(options.maxTtlS() * 1000)),
        100_000,
        options.recoveryGraceMs(),
        fresh,
        options.stateFile(),
        options.stateFsync());
    if (options.redisStore() != null) {
      return new RedisLeaseStore(vertx, options.redisStore(), settings, Math.max(2000, 3 * options.reaperIntervalMs()));
    }
    return new MemoryLeaseStore(settings);
  }

  /** Every request a route takes is first checked against the document the broker serves ({@code contract}). */
  private Router router(OpenApiRequests contract) {
    LeaseApi api = new LeaseApi(options, gpus, store, waiters, holders, metrics, observer);
    Router router = Router.router(vertx);
    Routes.get(router, "/health").handler(this::health);
    Routes.resource(router, "/openapi.json", OPENAPI, "application/json");
    OperatorPage.install(router);
    router.route().handler(new BearerAuth(options.authTokens()));
    router.post("/v1/gpu/lease").handler(Body::read).handler(contract.check("lease", Body::buffer))
        .handler(api::lease);
    router.post("/v1/gpu/renew").handler(Body::read).handler(contract.check("renew", Body::buffer))
        .handler(api::renew);
    router.post("/v1/gpu/release").handler(Body::read).handler(contract.check("release", Body::buffer))
        .handler(api::release);
    Routes.get(router, "/v1/gpu/lease/watch").handler(contract.check("watch", null)).handler(watchApi::watch);
    Routes.get(router, "/v1/gpu/status").handler(api::status);
    router.post("/v1/gpu/force_release").handler(Body::read)
        .handler(contract.check("forceRelease", Body::buffer)).handler(api::forceRelease);
    Routes.get(router, "/v1/gpu/events").handler(contract.check("events", null)).handler(eventsApi::events);
    Routes.get(router, "/metrics").handler(this::metrics);
    ErrorRenderer.install(router, "broker", e -> e instanceof StoreException se ? LeaseApi.toApi(se) : null);
    return router;
  }

  private void health(RoutingContext ctx) {
    store.snapshot()
        .onSuccess(s -> Json.send(ctx, 200, new JsonObject()
            .put("status", stopping ? "stopping" : s.recoveringUntil() != null ? "recovering" : "ok")
            .put("store", store.type())
            .put("store_ok", true)
            .put("recovering_until", s.recoveringUntil() == null ? null : s.recoveringUntil().toString())
            .put("gpus", gpus.size())
            .put("leases", s.leases().size())
            .put("waiting", s.waiting().size())
            .put("uptime_s", (System.nanoTime() - startedNanos) / 1_000_000_000L)))
        .onFailure(e -> Json.send(ctx, 503, new JsonObject()
            .put("status", "degraded")
            .put("store", store.type())
            .put("store_ok", false)
            .put("message", e.getMessage())));
  }

  private void metrics(RoutingContext ctx) {
    store.snapshot()
        .onSuccess(s -> ctx.response()
            .putHeader("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            .end(metrics.scrape(s)))
        .onFailure(ctx::fail);
  }

  /** Ends leases whose ttl ran out, then leases whose holder process on this host is gone. */
  private void reap() {
    Reaper.reap(store, waiters.ids(), lease -> lease.pid() != null && lease.pidIdentity() != null
            && holders.isLocal(lease.host()) && !holders.alive(lease.pid(), lease.pidIdentity())
            && !holders.carried(lease.leaseId()))
        .onSuccess(v -> {
          if (storeDown) {
            storeDown = false;
            LOG.info("lease store reachable again");
          }
        })
        .onFailure(e -> {
          // Once per outage, not once per reaper tick.
          if (!storeDown) {
            storeDown = true;
            LOG.warn("lease store unavailable, answering 503 store_unavailable until it is back: {}", e.getMessage());
          }
        });
  }

  private static boolean isLoopback(String host) {
    return host.startsWith("127.") || host.equals("localhost") || host.equals("::1");
  }

  private static String describe(List<GpuDevice> gpus) {
    JsonArray list = new JsonArray();
    gpus.forEach(g -> list.add(g.index() + ":" + (g.vramMb() == 0 ? "whole" : g.vramMb() + "MB")));
    return list.encode();
  }

  private final class Listener implements StoreListener {
    @Override
    public void onEvent(LeaseEvent event, boolean local) {
      if (local) {
        count(event);
      }
      watchApi.onEvent(event);
      eventsApi.publish(event);
    }

    private void count(LeaseEvent event) {
      if (event.type().endReason() != null) {
        metrics.ended(event.type().endReason());
      }
      if (event.revokes()) {
        boolean now = Boolean.TRUE.equals(event.immediate());
        if (now) {
          metrics.revocationFinished("immediate");
        }
        LOG.info("lease {} of '{}' on gpu {} revoked: {} by {}{}; {}", event.leaseId(), event.owner(), event.gpu(),
            event.type().wireName(), event.by(), event.reason() == null ? "" : " (" + event.reason() + ")",
            now ? "handed on at once (immediate)" : "handed on when its holder releases, at " + event.handoffAt()
                + " at the latest");
      } else if (event.type() == LeaseEventType.REVOKE_CONFIRMED || event.type() == LeaseEventType.REVOKE_EXPIRED) {
        metrics.revocationFinished(event.type() == LeaseEventType.REVOKE_CONFIRMED ? "confirmed" : "expired");
        LOG.info("lease {} of '{}' on gpu {} handed on: {}", event.leaseId(), event.owner(), event.gpu(), event.reason());
      } else if (event.type().endReason() != null && event.type() != LeaseEventType.RELEASED) {
        LOG.info("lease {} of '{}' on gpu {} ended: {} by {}{}", event.leaseId(), event.owner(), event.gpu(),
            event.type().wireName(), event.by(), event.reason() == null ? "" : " (" + event.reason() + ")");
      }
    }

    @Override
    public void onResync() {
      watchApi.resync();
    }

    @Override
    public void onWake(int gpu) {
      waiters.wake(gpu);
    }
  }
}
