package io.iqa.sidecar.service;

import io.iqa.holder.HolderRules;
import io.iqa.holder.OnLeaseLost;
import io.iqa.protocol.wire.ErrorCode;
import io.iqa.protocol.wire.WireNames;
import io.iqa.server.ErrorRenderer;
import io.iqa.server.GuardedServer;
import io.iqa.server.HttpError;
import io.iqa.server.InflightBudget;
import io.iqa.server.Json;
import io.iqa.server.OpenApiRequests;
import io.iqa.server.Routes;
import io.iqa.sidecar.image.ImageDecodeException;
import io.iqa.sidecar.model.ModelConfigException;
import io.iqa.sidecar.model.ModelRegistry;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.vertx.core.WorkerExecutor;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sidecar's front: the HTTP server (/infer, /health, /v1/models, /metrics, /release,
 * /shutdown), the score cache and the queue of cache misses. It holds no GPU memory: the models
 * run in a worker process that the {@link Lifecycle} starts when it holds the lease (or runs on
 * CPU) and stops to give the GPU back. Request bodies are read without blocking, hashed as they
 * arrive and counted against {@code max_inflight_bytes}; file reads and hashing go to a worker pool.
 */
public final class SidecarVerticle extends VerticleBase {

  private static final Logger LOG = LoggerFactory.getLogger(SidecarVerticle.class);

  private final SidecarOptions options;
  private final Path baseDir;
  private final long startedNanos = System.nanoTime();
  private final FrontWarmup warmup = new FrontWarmup();
  private final SidecarMetrics metrics = new SidecarMetrics();
  private final AdminAuth admin;
  private Lifecycle lifecycle;
  private WorkerExecutor ioPool;
  private ScoreService service;
  private HttpServer server;
  private int inFlight;
  private InflightBudget inflight;
  private InferInput input;
  private StatusPages pages;
  private Future<Void> shuttingDown;
  /** The start is done: the models loaded once (or the sidecar is idle by choice), the front warmed up. */
  private volatile boolean started;
  private long lastRequestNanos = System.nanoTime();
  /** The document /openapi.json serves; the JSON body of /infer is checked against it. */
  private static final String OPENAPI = "io/iqa/sidecar/openapi.json";
  private IntConsumer exit = code -> { };

  /** @param baseDir the config file's folder: relative model paths are resolved against it */
  public SidecarVerticle(SidecarOptions options, Path baseDir) {
    this.options = options;
    this.baseDir = baseDir;
    this.admin = new AdminAuth(options.adminTokenSha256());
  }

  /** Called with the exit code when the process should end (after /shutdown, a lost lease, idleness). */
  public SidecarVerticle onExit(IntConsumer exit) {
    this.exit = exit;
    return this;
  }

  @Override
  public Future<?> start() {
    ioPool = vertx.createSharedWorkerExecutor("iqa-io", Math.max(2, options.batching().workers()));
    inflight = new InflightBudget(options.maxInflightBytes());
    // Every config mistake before any lease or model work (the lease wait may be long).
    input = new InferInput(options, ioPool, OpenApiRequests.load(OPENAPI));
    return vertx.executeBlocking(() -> ModelRegistry.check(options.json(), baseDir))
        .compose(entries -> {
          lifecycle = new Lifecycle(vertx, options, baseDir, entries, metrics, code -> exit.accept(code));
          service = new ScoreService(vertx, lifecycle, ioPool, options, metrics);
          pages = new StatusPages(options, lifecycle, service, startedNanos);
          // The port first: a busy one fails the start before any lease is taken or worker started.
          return GuardedServer.listen(vertx, router(), options.listening());
        })
        .compose(s -> {
          server = s;
          return lifecycle.start().recover(e -> s.close().transform(x -> Future.failedFuture(e)));
        })
        // The front's own warm-up, only when a worker serves (a sidecar that starts idle takes no lease for it).
        .compose(v -> lifecycle.serving() && options.worker().warmup()
            ? warmup.send(vertx, options.host(), server.actualPort()) : Future.succeededFuture())
        .onSuccess(v -> {
          started = true;
          startIdleShutdownWatch();
          LOG.info("iqa-sidecar listening on http://{}:{} with models {} ({})", options.host(), server.actualPort(),
              lifecycle.models().keySet(), lifecycle.health().getString("state_reason"));
        });
  }

  /**
   * Stops taking work (new /infer get 503), lets in-flight requests finish (up to drain_timeout_s),
   * stops the worker (freeing the GPU), releases the lease, then asks for the process to exit with
   * {@code code}. Idempotent: every caller gets the same future.
   */
  public Future<Void> shutdown(String why, int code) {
    if (shuttingDown != null) {
      return shuttingDown;
    }
    LOG.info("shutting down: {}", why);
    Future<Void> drained = drained(options.drainTimeoutS() * 1000).recover(e -> {
      LOG.warn("drain: {}; stopping anyway", e.getMessage());
      return Future.succeededFuture();
    });
    shuttingDown = lifecycle.shutdown(why, drained)
        .onComplete(ar -> {
          LOG.info("worker stopped, lease released; exiting with {}", code);
          exit.accept(code);
        });
    return shuttingDown;
  }

  private void startIdleShutdownWatch() {
    long idleS = options.idleShutdownS();
    if (idleS <= 0) {
      return;
    }
    vertx.setPeriodic(Math.max(100, Math.min(1000, idleS * 250)), id -> {
      if (shuttingDown == null && inFlight == 0 && System.nanoTime() - lastRequestNanos > idleS * 1_000_000_000L) {
        vertx.cancelTimer(id);
        shutdown("no request for idle_shutdown_s=" + idleS, 0);
      }
    });
  }

  @Override
  public Future<?> stop() {
    Future<Void> closed = server == null ? Future.succeededFuture() : server.close();
    if (service != null) {
      service.close();
    }
    return closed
        .eventually(() -> lifecycle == null ? Future.succeededFuture()
            : shuttingDown != null ? shuttingDown : lifecycle.shutdown("the sidecar stops", Future.succeededFuture()))
        .eventually(() -> {
          if (ioPool != null) {
            ioPool.close();
          }
          return Future.succeededFuture();
        });
  }

  public int actualPort() {
    return server.actualPort();
  }

  /** @return the lifecycle state, as /health shows it ({@code serving}, {@code idle}, ...) */
  public String state() {
    return lifecycle == null ? "starting" : WireNames.of(lifecycle.state());
  }

  private Router router() {
    Router router = Router.router(vertx);
    Routes.get(router, "/health").handler(ctx -> pages.health(ctx, shuttingDown != null, inFlight, started));
    Routes.get(router, "/health/ready").handler(ctx -> pages.ready(ctx, shuttingDown != null, started));
    Routes.get(router, "/v1/models").handler(ctx -> pages.models(ctx, state()));
    Routes.resource(router, "/openapi.json", OPENAPI, "application/json");
    Routes.get(router, "/metrics").handler(ctx -> ctx.response()
        .putHeader("Content-Type", "text/plain; version=0.0.4; charset=utf-8").end(metrics.registry.scrape()));
    router.post("/infer").handler(this::infer);
    router.post("/shutdown").handler(this::shutdownRequest);
    router.post("/release").handler(this::releaseRequest);
    ErrorRenderer.install(router, "sidecar", e -> e instanceof ImageDecodeException de
        ? new HttpError(de.errorCode(), de.getMessage())
        : e instanceof ModelConfigException mc ? HttpError.badRequest(mc.getMessage()) : null);
    return router;
  }

  private void shutdownRequest(RoutingContext ctx) {
    admin.require(ctx, "/shutdown");
    Json.send(ctx, 202, new JsonObject().put("status", "shutting_down")
        .put("message", "finishing " + inFlight + " request(s), then stopping the worker and releasing the lease"));
    shutdown("POST /shutdown", 0);
  }

  /** {@code POST /release}: the GPU goes back now; cache hits are still answered, the next miss takes it again. */
  private void releaseRequest(RoutingContext ctx) {
    admin.require(ctx, "/release");
    if (shuttingDown != null) {
      throw new HttpError(ErrorCode.SHUTTING_DOWN, "the sidecar is shutting down");
    }
    lifecycle.release("POST /release").onComplete(ar -> Json.send(ctx, 200, new JsonObject()
        .put("status", "released").put("state", state())
        .put("message", "the worker has stopped and the lease is released; the next cache miss takes them again")));
  }

  private void infer(RoutingContext ctx) {
    boolean ownWarmup = warmup.marks(ctx.request());
    if (shuttingDown != null || lifecycle.state() == HolderRules.Phase.SHUTTING_DOWN) {
      throw new HttpError(ErrorCode.SHUTTING_DOWN, "the sidecar is shutting down");
    }
    if (lifecycle.state() == HolderRules.Phase.LEASE_LOST && options.onLeaseLost() == OnLeaseLost.EXIT) {
      throw new HttpError(503, ErrorCode.LEASE_LOST, "the GPU lease was lost and the sidecar is exiting (on_lease_lost: exit)");
    }
    lastRequestNanos = System.nanoTime();
    long t0 = System.nanoTime();
    inFlight++;
    // The request's bytes count against max_inflight_bytes until its answer has been sent.
    InflightBudget.Reservation held = inflight.open();
    ctx.addEndHandler(v -> {
      inFlight--;
      held.close();
      if (!ownWarmup) {
        metrics.answered(ctx.response().getStatusCode(), System.nanoTime() - t0);
      }
    });
    List<String> models = service.select(splitModels(ctx.request().getParam("models")));
    input.read(ctx, held)
        .compose(image -> service.infer(image.bytes(), image.sha256(), models, ownWarmup))
        .onSuccess(answer -> Json.send(ctx, 200, answer))
        .onFailure(ctx::fail);
  }

  private static List<String> splitModels(String param) {
    if (param == null || param.isBlank()) {
      return List.of();
    }
    return Arrays.stream(param.split(",")).map(String::trim).filter(s -> !s.isEmpty()).toList();
  }

  /** Completes when no /infer is in flight (checked every 20 ms), or fails after {@code timeoutMs}. */
  Future<Void> drained(long timeoutMs) {
    Promise<Void> p = Promise.promise();
    long deadline = System.nanoTime() + timeoutMs * 1_000_000;
    vertx.setPeriodic(20, id -> {
      if (inFlight == 0) {
        vertx.cancelTimer(id);
        p.tryComplete();
      } else if (System.nanoTime() > deadline) {
        vertx.cancelTimer(id);
        p.tryFail(inFlight + " request(s) still running after drain_timeout_s");
      }
    });
    return p.future();
  }
}
