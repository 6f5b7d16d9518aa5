package io.iqa.sidecar.service;

import io.iqa.protocol.Text;
import io.iqa.server.BodyReader;
import io.iqa.server.ErrorRenderer;
import io.iqa.server.GuardedServer;
import io.iqa.server.HttpError;
import io.iqa.server.InflightBudget;
import io.iqa.server.Json;
import io.iqa.server.Routes;
import io.iqa.sidecar.image.ImageDecodeException;
import io.iqa.sidecar.image.ImageDecoder;
import io.iqa.sidecar.model.ImageModel;
import io.iqa.sidecar.model.ModelRegistry;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.vertx.core.WorkerExecutor;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sidecar service: loads every model once, then serves /infer, /health, /v1/models and
 * /metrics. Inference and decoding run on bounded worker pools, never on the event loop.
 */
public final class SidecarVerticle extends VerticleBase {

  private static final Logger LOG = LoggerFactory.getLogger(SidecarVerticle.class);

  /** Lifecycle as /health reports it. */
  public enum State { STARTING, OK, LEASE_LOST, SHUTTING_DOWN }

  private final SidecarOptions options;
  private final Path baseDir;
  private final long startedNanos = System.nanoTime();
  private final SidecarMetrics metrics = new SidecarMetrics();
  private volatile State state = State.STARTING;
  private ModelRegistry registry;
  private WorkerExecutor decodePool;
  private WorkerExecutor inferPool;
  private ScoreService service;
  private HttpServer server;
  private int inFlight;
  private SidecarLease lease;
  private HttpError leaseLostError;
  private InflightBudget inflight;
  private PathInput paths;
  private String leaseNote = "no broker configured";
  private Future<Void> shuttingDown;
  private long lastRequestNanos = System.nanoTime();
  private java.util.function.IntConsumer exit = code -> { };

  /** @param baseDir the config file's folder: relative model paths are resolved against it */
  public SidecarVerticle(SidecarOptions options, Path baseDir) {
    this.options = options;
    this.baseDir = baseDir;
  }

  /** Called with the exit code when the process should end (after /shutdown, a lost lease, idleness). */
  public SidecarVerticle onExit(java.util.function.IntConsumer exit) {
    this.exit = exit;
    return this;
  }

  @Override
  public Future<?> start() {
    decodePool = vertx.createSharedWorkerExecutor("iqa-decode", Math.max(2, options.workers()));
    inferPool = vertx.createSharedWorkerExecutor("iqa-infer", options.workers());
    inflight = new InflightBudget(options.maxInflightBytes());
    paths = new PathInput(options.allowedRoots(), options.maxImageBytes());
    // Every config mistake before any lease or model work (the lease wait may be long).
    return vertx.executeBlocking(() -> ModelRegistry.check(options.json(), baseDir))
        .compose(checked -> takeLease())
        .compose(device -> loadModels(device))
        .compose(v -> GuardedServer.listen(vertx, router(), options.host(), options.port(), options.limits()))
        .onSuccess(s -> {
          server = s;
          state = State.OK;
          startIdleWatch();
          LOG.info("iqa-sidecar listening on http://{}:{} with models {} on {}", options.host(), s.actualPort(),
              registry.models().stream().map(ImageModel::name).toList(), devices());
        });
  }

  /**
   * Takes the GPU lease before any model loads. @return the device the models may use: the leased
   * GPU, the configured device when no broker is configured, or cpu when running without a lease
   */
  private Future<String> takeLease() {
    String configured = options.json().getString("device", "auto");
    if (!options.hasBroker()) {
      return Future.succeededFuture(configured);
    }
    lease = new SidecarLease(vertx, options, this::leaseLost);
    return lease.acquire()
        .map(l -> configured.equals("auto") ? "cuda:" + l.gpu() : configured)
        .recover(err -> {
          if (options.leaseRequired()) {
            return Future.failedFuture(new IllegalStateException("lease.required is true and no GPU lease was "
                + "granted: " + err.getMessage()));
          }
          leaseNote = "running on CPU without a lease: " + err.getMessage();
          LOG.warn("{} (lease.required is false)", leaseNote);
          lease.close();
          lease = null;
          return Future.succeededFuture("cpu");
        });
  }

  private Future<Void> loadModels(String device) {
    JsonObject config = options.json().copy().put("device", device);
    return vertx.executeBlocking(() -> ModelRegistry.load(config, baseDir)).map(loaded -> {
      registry = loaded;
      if (service != null) {
        service.close();
      }
      service = new ScoreService(vertx, registry,
          new ImageDecoder(options.maxImageBytes(), options.maxImagePixels()), decodePool, inferPool, options, metrics);
      return null;
    });
  }

  /**
   * The GPU lease was revoked or lost. No model call starts any more (waiting images answer 503
   * {@code lease_lost}); calls already running finish, within this holder's own deadline; then the
   * models close (freeing VRAM) and the release confirms the stop, so the broker hands the GPU on
   * only after the last answer of a leased model. Then exit 3, or reload the models on CPU and
   * carry on without a lease ({@code on_lease_lost: cpu}).
   */
  private void leaseLost(io.iqa.client.LeaseLoss loss) {
    if (state == State.SHUTTING_DOWN || state == State.LEASE_LOST) {
      return;
    }
    boolean cpu = options.onLeaseLost().equals("cpu");
    state = State.LEASE_LOST;
    leaseLostError = new HttpError(503, "lease_lost", "the GPU lease was " + (loss.revoked() ? "revoked" : "lost")
        + " (" + loss.reason() + "); " + (cpu ? "the models are being reloaded on CPU" : "the sidecar is exiting"));
    LOG.warn("GPU lease {} ({}): finishing running model calls within {} ms, then closing the models{}",
        loss.revoked() ? "revoked" : "lost", loss.message(), lease.remaining().toMillis(),
        cpu ? " and reloading them on CPU" : " and exiting with 3");
    service.stopModelCalls(leaseLostError);
    ModelRegistry old = registry;
    modelCallsDone(lease.remaining().toMillis())
        .compose(finished -> {
          if (!finished) {
            // A native call cannot be interrupted: only the end of this process frees its GPU memory.
            LOG.error("model calls still running at the lease's deadline; exiting at once to free the GPU");
            exit.accept(3);
            return Future.failedFuture("deadline");
          }
          return vertx.executeBlocking(() -> {
            old.close();
            return null;
          });
        })
        .compose(v -> lease.release())
        .compose(v -> cpu ? loadModels("cpu") : Future.failedFuture("exit"))
        .onComplete(ar -> {
          if (ar.succeeded()) {
            state = State.OK;
            LOG.info("models reloaded on CPU; serving again, without a GPU lease");
          } else if (!"deadline".equals(ar.cause().getMessage())) {
            if (cpu) {
              LOG.error("could not reload the models on CPU: {}", ar.cause().getMessage());
            }
            state = State.SHUTTING_DOWN;
            LOG.info("GPU freed and lease released; exiting with 3");
            exit.accept(3);
          }
        });
  }

  /** @return true once no model call runs (checked every 10 ms), false when {@code withinMs} ran out first */
  private Future<Boolean> modelCallsDone(long withinMs) {
    Promise<Boolean> done = Promise.promise();
    long deadline = System.nanoTime() + withinMs * 1_000_000;
    if (service.runningModelCalls() == 0) {
      return Future.succeededFuture(true);
    }
    vertx.setPeriodic(10, id -> {
      if (service.runningModelCalls() == 0 || System.nanoTime() > deadline) {
        vertx.cancelTimer(id);
        done.complete(service.runningModelCalls() == 0);
      }
    });
    return done.future();
  }

  /**
   * Stops taking work (new /infer get 503), lets in-flight requests finish (up to drain_timeout_s),
   * closes every model, releases the lease, then asks for the process to exit with {@code code}.
   * Idempotent: every caller gets the same future.
   */
  public Future<Void> shutdown(String why, int code) {
    if (shuttingDown != null) {
      return shuttingDown;
    }
    state = State.SHUTTING_DOWN;
    LOG.info("shutting down: {}", why);
    shuttingDown = drained(options.drainTimeoutS() * 1000)
        .recover(e -> {
          LOG.warn("drain: {}; closing anyway", e.getMessage());
          return Future.succeededFuture();
        })
        .compose(v -> vertx.executeBlocking(() -> {
          if (registry != null) {
            registry.close();
          }
          return null;
        }))
        .compose(v -> lease == null ? Future.succeededFuture() : lease.release())
        .onComplete(ar -> {
          LOG.info("models closed{}; exiting with {}", lease == null ? "" : ", lease released", code);
          exit.accept(code);
        })
        .mapEmpty();
    return shuttingDown;
  }

  private void startIdleWatch() {
    long idleS = options.idleShutdownS();
    if (idleS <= 0) {
      return;
    }
    vertx.setPeriodic(Math.max(100, Math.min(1000, idleS * 250)), id -> {
      if (state == State.OK && inFlight == 0 && System.nanoTime() - lastRequestNanos > idleS * 1_000_000_000L) {
        vertx.cancelTimer(id);
        shutdown("no request for idle_shutdown_s=" + idleS, 0);
      }
    });
  }

  @Override
  public Future<?> stop() {
    state = State.SHUTTING_DOWN;
    Future<Void> closed = server == null ? Future.succeededFuture() : server.close();
    if (service != null) {
      service.close();
    }
    return closed.eventually(() -> vertx.executeBlocking(() -> {
      if (registry != null) {
        registry.close();
      }
      return null;
    })).eventually(() -> lease == null ? Future.succeededFuture() : lease.release().onComplete(ar -> lease.close()))
        .eventually(() -> {
      if (decodePool != null) {
        decodePool.close();
        inferPool.close();
      }
      return Future.succeededFuture();
    });
  }

  public int actualPort() {
    return server.actualPort();
  }

  public State state() {
    return state;
  }

  private Router router() {
    Router router = Router.router(vertx);
    Routes.get(router, "/health").handler(this::health);
    Routes.get(router, "/v1/models").handler(this::models);
    Routes.get(router, "/metrics").handler(ctx -> ctx.response()
        .putHeader("Content-Type", "text/plain; version=0.0.4; charset=utf-8").end(metrics.registry.scrape()));
    router.post("/infer").handler(this::infer);
    router.post("/shutdown").handler(this::shutdownRequest);
    ErrorRenderer.install(router, "sidecar", e -> e instanceof ImageDecodeException de
        ? new HttpError(de.httpStatus(), de.errorCode(), de.getMessage())
        : e instanceof io.iqa.sidecar.model.ModelConfigException mc ? HttpError.badRequest(mc.getMessage()) : null);
    return router;
  }

  private void shutdownRequest(RoutingContext ctx) {
    String expected = options.adminTokenSha256();
    if (expected != null) {
      String header = ctx.request().getHeader("Authorization");
      String presented = header != null && header.regionMatches(true, 0, "Bearer ", 0, 7)
          ? header.substring(7).trim() : null;
      if (presented == null || !java.security.MessageDigest.isEqual(
          io.iqa.sidecar.model.ImageScorer.sha256(presented.getBytes(java.nio.charset.StandardCharsets.UTF_8))
              .getBytes(java.nio.charset.StandardCharsets.US_ASCII),
          expected.toLowerCase(Locale.ROOT).getBytes(java.nio.charset.StandardCharsets.US_ASCII))) {
        throw new HttpError(401, "unauthorized", "/shutdown needs 'Authorization: Bearer <admin token>'");
      }
    }
    Json.send(ctx, 202, new JsonObject().put("status", "shutting_down")
        .put("message", "finishing " + inFlight + " request(s), then closing the models and releasing the lease"));
    shutdown("POST /shutdown", 0);
  }

  private void infer(RoutingContext ctx) {
    if (state != State.OK) {
      throw switch (state) {
        case STARTING -> new HttpError(503, "not_ready", "models are loading");
        case LEASE_LOST -> leaseLostError;
        default -> new HttpError(503, "shutting_down", "the sidecar is shutting down");
      };
    }
    lastRequestNanos = System.nanoTime();
    long t0 = System.nanoTime();
    inFlight++;
    // The request's bytes count against max_inflight_bytes until its answer has been sent.
    InflightBudget.Reservation held = inflight.open();
    ctx.addEndHandler(v -> {
      inFlight--;
      held.close();
      metrics.answered(ctx.response().getStatusCode(), System.nanoTime() - t0);
    });
    List<ImageModel> models = service.select(splitModels(ctx.request().getParam("models")));
    imageBytes(ctx, held)
        .compose(image -> service.infer(image.bytes(), image.sha256(), models))
        .onSuccess(answer -> Json.send(ctx, 200, answer))
        .onFailure(ctx::fail);
  }

  /**
   * Raw image bytes (read as they arrive: limited, hashed, counted against max_inflight_bytes), or
   * {"path": ...} inside an allowed root. @return the bytes with their SHA-256 (null: still to compute)
   */
  private Future<BodyReader.Body> imageBytes(RoutingContext ctx, InflightBudget.Reservation held) {
    String type = contentType(ctx);
    if (type.startsWith("image/") || type.equals("application/octet-stream")) {
      return BodyReader.read(ctx.request(), options.maxBodyBytes(), true, held, "max_body_bytes");
    }
    if (type.equals("application/json")) {
      return BodyReader.read(ctx.request(), 64 * 1024, false, held, "the limit of a JSON body")
          .compose(body -> pathBytes(body.bytes(), held))
          .map(bytes -> new BodyReader.Body(bytes, null));
    }
    ctx.request().resume();
    return Future.failedFuture(new HttpError(415, "unsupported_media_type", "send the image as image/* or "
        + "application/octet-stream, or {\"path\": ...} as application/json; got '" + Text.printable(type, 80) + "'"));
  }

  private Future<byte[]> pathBytes(byte[] body, InflightBudget.Reservation held) {
    String path;
    try {
      Object json = io.vertx.core.json.Json.decodeValue(io.vertx.core.buffer.Buffer.buffer(body));
      path = json instanceof JsonObject o && o.getValue("path") instanceof String s ? s : null;
    } catch (DecodeException e) {
      path = null;
    }
    if (path == null) {
      return Future.failedFuture(HttpError.badRequest("body must be {\"path\": \"/absolute/path\"}"));
    }
    if (!paths.enabled()) {
      return Future.failedFuture(new HttpError(403, "forbidden",
          "path input is off: configure allowed_roots to allow reading files"));
    }
    String requested = path;
    return decodePool.executeBlocking(() -> {
      byte[] bytes = paths.read(requested);
      if (!held.grow(bytes.length)) {
        throw HttpError.overloaded("too many bytes of requests in flight (max_inflight_bytes); retry later", 1);
      }
      return bytes;
    }, false);
  }

  private void health(RoutingContext ctx) {
    JsonObject fallbacks = new JsonObject();
    JsonArray names = new JsonArray();
    if (registry != null) {
      for (ImageModel m : registry.models()) {
        names.add(m.name());
        if (m.fallbackReason() != null) {
          fallbacks.put(m.name(), m.fallbackReason());
        }
      }
    }
    JsonObject health = new JsonObject()
        .put("status", state.name().toLowerCase(Locale.ROOT))
        .put("device", registry == null ? null : devices())
        .put("models", names)
        .put("lease", lease != null ? lease.status() : new JsonObject().put("state", "none").put("reason", leaseNote))
        .put("cache", service == null ? null : service.cacheStats())
        .put("queued", service == null ? 0 : service.queued())
        .put("in_flight", inFlight)
        .put("uptime_s", (System.nanoTime() - startedNanos) / 1_000_000_000L);
    if (!fallbacks.isEmpty()) {
      health.put("device_fallbacks", fallbacks);
    }
    Json.send(ctx, 200, health);
  }

  private void models(RoutingContext ctx) {
    JsonArray list = new JsonArray();
    for (ImageModel m : registry.models()) {
      list.add(new JsonObject().put("name", m.name()).put("backend", m.backend()).put("device", m.device())
          .put("inputs", m.inputs()).put("load_ms", m.loadMs()).put("fingerprint", registry.fingerprint(m.name()))
          .put("fallback_reason", m.fallbackReason()));
    }
    Json.send(ctx, 200, new JsonObject().put("models", list));
  }

  private String devices() {
    return String.join("+", registry.models().stream().map(ImageModel::device).distinct().toList());
  }

  private static String contentType(RoutingContext ctx) {
    String type = ctx.request().getHeader("Content-Type");
    if (type == null) {
      return "";
    }
    int semi = type.indexOf(';');
    return (semi < 0 ? type : type.substring(0, semi)).trim().toLowerCase(Locale.ROOT);
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
      if (inFlight == 0 && service.queued() == 0) {
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
