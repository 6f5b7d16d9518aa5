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
import io.iqa.sidecar.model.ImageScorer;
import io.iqa.sidecar.model.ModelRegistry;
import io.iqa.sidecar.samples.SampleImages;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.vertx.core.WorkerExecutor;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;
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
  private static final String WARMUP_HEADER = "X-IQA-Warmup";

  private final SidecarOptions options;
  private final Path baseDir;
  private final long startedNanos = System.nanoTime();
  private final String warmupToken = newToken();
  private final SidecarMetrics metrics = new SidecarMetrics();
  private Lifecycle lifecycle;
  private WorkerExecutor ioPool;
  private ScoreService service;
  private HttpServer server;
  private int inFlight;
  private InflightBudget inflight;
  private PathInput paths;
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
    ioPool = vertx.createSharedWorkerExecutor("iqa-io", Math.max(2, options.workers()));
    inflight = new InflightBudget(options.maxInflightBytes());
    paths = new PathInput(options.allowedRoots(), options.maxImageBytes());
    // Every config mistake before any lease or model work (the lease wait may be long).
    return vertx.executeBlocking(() -> ModelRegistry.check(options.json(), baseDir))
        .compose(entries -> {
          lifecycle = new Lifecycle(vertx, options, baseDir, entries, metrics, code -> exit.accept(code));
          service = new ScoreService(vertx, lifecycle, ioPool, options, metrics);
          // The port first: a busy one fails the start before any lease is taken or worker started.
          return GuardedServer.listen(vertx, router(), options.host(), options.port(), options.limits());
        })
        .compose(s -> {
          server = s;
          return lifecycle.start().recover(e -> s.close().transform(x -> Future.failedFuture(e)));
        })
        .compose(v -> warmUpFront())
        .onSuccess(v -> {
          startIdleShutdownWatch();
          LOG.info("iqa-sidecar listening on http://{}:{} with models {} ({})", options.host(), server.actualPort(),
              lifecycle.models().keySet(), lifecycle.health().getString("state_reason"));
        });
  }

  /**
   * The worker warmed its models up; this warms up the front's own path (HTTP, body reading,
   * hashing, the queue, the frames): one image sent to itself over loopback before the sidecar
   * says it listens. Only when a worker serves (a sidecar that starts idle takes no lease for it).
   * The request carries a token only this process knows: it leaves no trace in the cache or the
   * metrics.
   */
  private Future<Void> warmUpFront() {
    if (!lifecycle.serving() || !options.workerWarmup()) {
      return Future.succeededFuture();
    }
    byte[] jpeg;
    try {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      ImageIO.write(SampleImages.scene(256), "jpeg", out);
      jpeg = out.toByteArray();
    } catch (IOException e) {
      return Future.succeededFuture();
    }
    HttpClient http = vertx.createHttpClient();
    String host = options.host().equals("0.0.0.0") ? "127.0.0.1" : options.host();
    return http.request(HttpMethod.POST, server.actualPort(), host, "/infer")
        .compose(req -> req.putHeader("Content-Type", "image/jpeg").putHeader(WARMUP_HEADER, warmupToken).send(Buffer.buffer(jpeg)))
        .compose(resp -> resp.body().map(b -> resp.statusCode()))
        .onComplete(ar -> {
          http.close();
          if (ar.failed() || ar.result() != 200) {
            LOG.warn("warming up the front with one image failed: {}", ar.failed() ? ar.cause().getMessage()
                : "status " + ar.result());
          }
        })
        .<Void>mapEmpty().recover(e -> Future.succeededFuture());
  }

  private static String newToken() {
    byte[] bytes = new byte[16];
    new SecureRandom().nextBytes(bytes);
    return HexFormat.of().formatHex(bytes);
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
    return lifecycle == null ? "starting" : lifecycle.state().name().toLowerCase(Locale.ROOT);
  }

  private Router router() {
    Router router = Router.router(vertx);
    Routes.get(router, "/health").handler(this::health);
    Routes.get(router, "/v1/models").handler(this::models);
    Routes.get(router, "/metrics").handler(ctx -> ctx.response()
        .putHeader("Content-Type", "text/plain; version=0.0.4; charset=utf-8").end(metrics.registry.scrape()));
    router.post("/infer").handler(this::infer);
    router.post("/shutdown").handler(this::shutdownRequest);
    router.post("/release").handler(this::releaseRequest);
    ErrorRenderer.install(router, "sidecar", e -> e instanceof ImageDecodeException de
        ? new HttpError(de.httpStatus(), de.errorCode(), de.getMessage())
        : e instanceof io.iqa.sidecar.model.ModelConfigException mc ? HttpError.badRequest(mc.getMessage()) : null);
    return router;
  }

  private void shutdownRequest(RoutingContext ctx) {
    requireAdmin(ctx, "/shutdown");
    Json.send(ctx, 202, new JsonObject().put("status", "shutting_down")
        .put("message", "finishing " + inFlight + " request(s), then stopping the worker and releasing the lease"));
    shutdown("POST /shutdown", 0);
  }

  /** {@code POST /release}: the GPU goes back now; cache hits are still answered, the next miss takes it again. */
  private void releaseRequest(RoutingContext ctx) {
    requireAdmin(ctx, "/release");
    if (shuttingDown != null) {
      throw new HttpError(503, "shutting_down", "the sidecar is shutting down");
    }
    lifecycle.release("POST /release").onComplete(ar -> Json.send(ctx, 200, new JsonObject()
        .put("status", "released").put("state", state())
        .put("message", "the worker has stopped and the lease is released; the next cache miss takes them again")));
  }

  private void requireAdmin(RoutingContext ctx, String path) {
    String expected = options.adminTokenSha256();
    if (expected != null) {
      String header = ctx.request().getHeader("Authorization");
      String presented = header != null && header.regionMatches(true, 0, "Bearer ", 0, 7)
          ? header.substring(7).trim() : null;
      if (presented == null || !MessageDigest.isEqual(
          ImageScorer.sha256(presented.getBytes(StandardCharsets.UTF_8))
              .getBytes(StandardCharsets.US_ASCII),
          expected.toLowerCase(Locale.ROOT).getBytes(StandardCharsets.US_ASCII))) {
        throw new HttpError(401, "unauthorized", path + " needs 'Authorization: Bearer <admin token>'");
      }
    }
  }

  private void infer(RoutingContext ctx) {
    boolean warmup = MessageDigest.isEqual(warmupToken.getBytes(StandardCharsets.US_ASCII),
        String.valueOf(ctx.request().getHeader(WARMUP_HEADER)).getBytes(StandardCharsets.US_ASCII));
    if (shuttingDown != null || lifecycle.state() == Lifecycle.State.SHUTTING_DOWN) {
      throw new HttpError(503, "shutting_down", "the sidecar is shutting down");
    }
    if (lifecycle.state() == Lifecycle.State.LEASE_LOST && options.onLeaseLost() == SidecarOptions.OnLeaseLost.EXIT) {
      throw new HttpError(503, "lease_lost", "the GPU lease was lost and the sidecar is exiting (on_lease_lost: exit)");
    }
    lastRequestNanos = System.nanoTime();
    long t0 = System.nanoTime();
    inFlight++;
    // The request's bytes count against max_inflight_bytes until its answer has been sent.
    InflightBudget.Reservation held = inflight.open();
    ctx.addEndHandler(v -> {
      inFlight--;
      held.close();
      if (!warmup) {
        metrics.answered(ctx.response().getStatusCode(), System.nanoTime() - t0);
      }
    });
    List<String> models = service.select(splitModels(ctx.request().getParam("models")));
    imageBytes(ctx, held)
        .compose(image -> service.infer(image.bytes(), image.sha256(), models, warmup))
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
      Object json = io.vertx.core.json.Json.decodeValue(Buffer.buffer(body));
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
    return ioPool.executeBlocking(() -> {
      byte[] bytes = paths.read(requested);
      if (!held.grow(bytes.length)) {
        throw HttpError.overloaded("too many bytes of requests in flight (max_inflight_bytes); retry later", 1);
      }
      return bytes;
    }, false);
  }

  private void health(RoutingContext ctx) {
    JsonObject fallbacks = new JsonObject();
    lifecycle.models().forEach((name, m) -> {
      if (m != null && m.fallbackReason() != null) {
        fallbacks.put(name, m.fallbackReason());
      }
    });
    Lifecycle.State s = lifecycle.state();
    JsonObject health = new JsonObject()
        .put("status", s == Lifecycle.State.SHUTTING_DOWN || shuttingDown != null ? "shutting_down"
            : s == Lifecycle.State.LEASE_LOST && options.onLeaseLost() == SidecarOptions.OnLeaseLost.EXIT
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

  private void models(RoutingContext ctx) {
    JsonArray list = new JsonArray();
    boolean loaded = lifecycle.serving();
    lifecycle.models().forEach((name, m) -> list.add(m == null
        ? new JsonObject().put("name", name).put("loaded", false)
        : m.toJson().put("loaded", loaded)));
    Json.send(ctx, 200, new JsonObject().put("models", list).put("state", state()));
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
