package io.iqa.sidecar.service;

import io.iqa.client.Lease;
import io.iqa.client.LeaseLoss;
import io.iqa.server.HttpError;
import io.iqa.sidecar.model.ModelConfigException;
import io.iqa.sidecar.model.ModelEntry;
import io.iqa.sidecar.model.ModelRegistry;
import io.iqa.sidecar.worker.Frame;
import io.iqa.sidecar.worker.ModelInfo;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.IntConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * When the sidecar holds the GPU: a state machine over the lease and the worker process, run on
 * the front's event loop. {@code IDLE} (no worker, no lease; cache hits are still answered) ->
 * {@code ACQUIRING} (a cache miss waits for the lease, up to {@code lease.wait_s}) -> {@code
 * LOADING} (the worker starts and loads the models) -> {@code SERVING}. From serving the worker
 * is stopped and the lease released, back to idle, when no cache miss came for {@code
 * idle_release_s}, when the broker asks this holder to yield, on {@code POST /release}, and when
 * the lease is revoked or lost ({@code LEASE_LOST}, then as {@code on_lease_lost} says). {@code
 * DRAINING} is the way down: the model calls running finish, the images not started wait in the
 * {@link WorkQueue} for the next worker, the worker exits (freeing all its GPU memory) and only
 * then is the lease released. A sidecar whose models all run on CPU takes no lease unless {@code
 * lease.required}; its CPU worker sees no GPU at all.
 */
final class Lifecycle {

  private static final Logger LOG = LoggerFactory.getLogger(Lifecycle.class);

  enum State { STARTING, IDLE, ACQUIRING, LOADING, SERVING, DRAINING, LEASE_LOST, SHUTTING_DOWN }

  /** How the GPU is guarded. */
  enum Mode {
    /** A model wants a GPU (or lease.required): its worker runs only under a lease. */
    LEASED,
    /** Every model runs on CPU: no lease, and the worker sees no GPU. */
    CPU_ONLY,
    /** No broker configured: the models run where configured, unguarded. */
    UNGUARDED
  }

  /** Where one worker runs its models. */
  private enum Placement { LEASED_GPU, CPU, AS_CONFIGURED }

  private final Vertx vertx;
  private final SidecarOptions options;
  private final Path baseDir;
  private final List<ModelEntry> entries;
  private final SidecarMetrics metrics;
  private final IntConsumer exit;
  private final Mode mode;
  private final SidecarLease lease;
  final WorkQueue queue;
  private final Map<String, ModelInfo> models = new LinkedHashMap<>();
  private State state = State.STARTING;
  private String reason = "starting";
  private Instant since = Instant.now();
  private WorkerProcess worker;
  /** A worker asked to stop, until its process is gone. */
  private WorkerProcess stopping;
  private Future<Void> transition = Future.succeededFuture();
  /** A yield asked for while the worker loaded: done once it has served what waited for it. */
  private Runnable afterLoad;

  Lifecycle(Vertx vertx, SidecarOptions options, Path baseDir, List<ModelEntry> entries, SidecarMetrics metrics,
      IntConsumer exit) {
    this.vertx = vertx;
    this.options = options;
    this.baseDir = baseDir.toAbsolutePath();
    this.entries = entries;
    this.metrics = metrics;
    this.exit = exit;
    this.queue = new WorkQueue(options.queueLimit(), this::demand);
    this.mode = !options.hasBroker() ? Mode.UNGUARDED
        : options.wantsGpu(entries) || options.leaseRequired() ? Mode.LEASED : Mode.CPU_ONLY;
    this.lease = mode == Mode.LEASED ? new SidecarLease(vertx, options, this::leaseLost, this::yieldRequested) : null;
    entries.forEach(e -> models.put(e.name(), null));
  }

  /**
   * Starts warm: takes the lease if the GPU is free now (no waiting) and loads the models, so a
   * model that does not load stops the start. A busy GPU leaves the sidecar idle (or on CPU when
   * the lease is not required) until the first cache miss.
   */
  Future<Void> start() {
    if (mode == Mode.UNGUARDED) {
      LOG.warn("no broker configured: the models run where configured ({}) and nothing guards the GPU",
          options.json().getString("device", "auto"));
    }
    Future<Void> up = bringUp(0.0, true);
    transition = up.recover(e -> Future.succeededFuture());
    long idle = options.idleReleaseS();
    if (idle > 0) {
      vertx.setPeriodic(Math.max(100, Math.min(1000, idle * 250)), id -> releaseIfIdle(idle));
    }
    return up;
  }

  /** Work waits and no worker takes it: bring one up, unless a transition is under way (it checks when done). */
  private void demand() {
    if (state == State.IDLE && transition.isComplete()) {
      transition = bringUp(null, false).recover(e -> Future.succeededFuture());
    }
  }

  private Future<Void> bringUp(Double waitS, boolean atStart) {
    if (mode != Mode.LEASED) {
      return startWorker(mode == Mode.CPU_ONLY ? Placement.CPU : Placement.AS_CONFIGURED, atStart);
    }
    enter(State.ACQUIRING, "waiting for a GPU lease" + (waitS == null ? " (lease.wait_s="
        + options.leaseRequest().waitS() + ")" : ""));
    return lease.acquire(waitS).compose(l -> startWorker(Placement.LEASED_GPU, atStart), err -> {
      if (options.leaseRequired()) {
        enter(State.IDLE, "no GPU lease: " + err.getMessage() + (atStart ? "; the first cache miss waits for one" : ""));
        queue.failPending(new HttpError(503, "gpu_unavailable", "no GPU lease within lease.wait_s="
            + options.leaseRequest().waitS() + ": " + err.getMessage(), null, 5));
        return Future.succeededFuture();
      }
      LOG.warn("no GPU lease ({}); scoring on CPU (lease.required is false)", err.getMessage());
      return startWorker(Placement.CPU, atStart);
    });
  }

  private Future<Void> startWorker(Placement where, boolean atStart) {
    enter(State.LOADING, "starting the worker" + (where == Placement.LEASED_GPU ? " on gpu " + lease.gpu()
        : where == Placement.CPU ? " on CPU" : ""));
    Map<String, String> env = switch (where) {
      case LEASED_GPU -> lease.workerEnv();
      case CPU -> Lease.noGpuEnv();
      case AS_CONFIGURED -> Map.of();
    };
    WorkerProcess w = WorkerProcess.start(vertx, init(where), env, options.workerJvmArgs(),
        options.workerStartTimeoutS() * 1000, this::frame);
    worker = w;
    w.exited().onSuccess(code -> workerExited(w, code));
    return w.ready().compose(ready -> {
      if (worker != w) {
        return Future.succeededFuture();
      }
      for (Object o : ready.getJsonArray("models")) {
        ModelInfo m = ModelInfo.fromJson((JsonObject) o);
        models.put(m.name(), where == Placement.LEASED_GPU && m.device().startsWith("cuda")
            ? m.withDevice("cuda:" + lease.gpu()) : m);
      }
      enter(State.SERVING, "worker " + w.pid() + " loaded the models in " + ready.getLong("load_ms") + " ms on "
          + devices());
      queue.attach(w::send);
      if (afterLoad != null) {
        Runnable then = afterLoad;
        afterLoad = null;
        then.run();
      }
      return Future.<Void>succeededFuture();
    }, err -> {
      if (worker != w) {
        return Future.succeededFuture();
      }
      worker = null;
      w.kill();
      String why = "the models did not load: " + err.getMessage();
      queue.failPending(new HttpError(503, "models_unavailable", why));
      return w.exited().transform(x -> releaseLease(null)).compose(v -> {
        enter(State.IDLE, why);
        return atStart ? Future.failedFuture(new ModelConfigException(why)) : Future.succeededFuture();
      });
    });
  }

  private JsonObject init(Placement where) {
    // Under a lease the worker sees one GPU, the leased one, as device 0; on CPU it sees none.
    JsonObject config = where == Placement.AS_CONFIGURED ? options.json()
        : ModelRegistry.placed(options.json(), where == Placement.CPU ? "cpu" : "cuda:0");
    return new JsonObject().put("config", config).put("base_dir", baseDir.toString()).put("limits", new JsonObject()
        .put("max_image_bytes", options.maxImageBytes()).put("max_image_pixels", options.maxImagePixels())
        .put("max_queue_delay_ms", options.maxQueueDelayMs()).put("queue_limit", options.queueLimit())
        .put("workers", options.workers()).put("warmup", options.workerWarmup()));
  }

  private void frame(Frame f) {
    switch (f.type()) {
      case RESULT -> queue.result(f.header());
      case BATCH -> metrics.batch(f.header().getString("model"), f.header().getInteger("size"),
          f.header().getLong("nanos"));
      default -> { }
    }
  }

  /** The worker exited on its own (a crash): what it was scoring fails, the lease goes back. */
  private void workerExited(WorkerProcess w, int code) {
    if (worker != w || state != State.SERVING) {
      return;
    }
    worker = null;
    queue.detach();
    String why = "the worker (pid " + w.pid() + ") exited with code " + code + " while serving";
    LOG.error("{}; failing its images, releasing the lease", why);
    enter(State.DRAINING, why);
    queue.workerGone(new HttpError(503, "worker_failed", why + "; retry"), false);
    transition = releaseLease("worker exited").onComplete(ar -> afterDown(why));
  }

  private void releaseIfIdle(long idleS) {
    if (state == State.SERVING && queue.idle() && transition.isComplete()
        && System.nanoTime() - queue.lastWorkNanos() > idleS * 1_000_000_000L) {
      down("no cache miss for idle_release_s=" + idleS, "idle", options.drainTimeoutS() * 1000);
    }
  }

  /**
   * The broker asks for the GPU: the images this sidecar has in hand (sent to the worker, or
   * waiting for the worker that is loading) are finished, then it yields; images that come later
   * wait for the next lease. So every lease serves what was waiting for it, however often others
   * ask.
   */
  private void yieldRequested(String why) {
    Runnable yieldNow = () -> {
      LOG.info("the broker asks for gpu {} ({}); finishing the images in hand, then yielding", lease.gpu(), why);
      down("yielded the GPU: " + why, "yielded", Math.min(options.drainTimeoutS() * 1000,
          lease.remaining().toMillis()));
    };
    if (state == State.SERVING) {
      yieldNow.run();
    } else if (state == State.LOADING) {
      afterLoad = yieldNow;
    }
  }

  /**
   * {@code POST /release}: the worker stops (running calls finish, the rest waits), the lease is
   * released; cache hits are still served and the next miss brings a worker back. Completes when idle.
   */
  Future<Void> release(String why) {
    transition = transition.eventually(() -> state == State.SERVING || state == State.LOADING
        ? stopAndRelease(why, "released", options.drainTimeoutS() * 1000) : Future.succeededFuture())
        .onComplete(ar -> afterDown(why));
    return transition;
  }

  private void down(String why, String releaseReason, long withinMs) {
    transition = stopAndRelease(why, releaseReason, withinMs).onComplete(ar -> afterDown(why));
  }

  /** Finishes the images in hand (within {@code withinMs}), stops the worker, releases the lease. */
  private Future<Void> stopAndRelease(String why, String releaseReason, long withinMs) {
    enter(State.DRAINING, why);
    queue.detach();
    long deadline = System.nanoTime() + withinMs * 1_000_000;
    Promise<Void> answered = Promise.promise();
    long timer = vertx.setTimer(Math.max(1, withinMs), t -> answered.tryComplete());
    queue.whenSentAnswered().onComplete(ar -> {
      vertx.cancelTimer(timer);
      answered.tryComplete();
    });
    return answered.future()
        .compose(v -> stopWorker(Math.max(1, (deadline - System.nanoTime()) / 1_000_000)))
        .compose(v -> releaseLease(releaseReason));
  }

  private void afterDown(String why) {
    if (state == State.DRAINING || state == State.LEASE_LOST) {
      enter(State.IDLE, why);
    }
    if (state == State.IDLE && queue.hasPending()) {
      demand();
    }
  }

  /** Revoked or lost: no new model call; running ones finish within the holder's deadline; then as on_lease_lost says. */
  private void leaseLost(LeaseLoss loss) {
    if (state == State.SHUTTING_DOWN) {
      return;
    }
    SidecarOptions.OnLeaseLost then = options.onLeaseLost();
    String why = "the GPU lease was " + (loss.revoked() ? "revoked" : "lost") + " (" + loss.message() + ")";
    enter(State.LEASE_LOST, why);
    LOG.warn("{}: finishing running model calls within {} ms, stopping the worker, then {}", why,
        lease.remaining().toMillis(), switch (then) {
          case IDLE -> "waiting for the next cache miss to lease again";
          case CPU -> "scoring on CPU without a lease";
          case EXIT -> "exiting with 3";
        });
    if (then == SidecarOptions.OnLeaseLost.EXIT) {
      queue.failPending(new HttpError(503, "lease_lost", why + "; the sidecar is exiting"));
    }
    // At once, not after a transition under way: the holder's deadline runs.
    transition = stopWorker(lease.remaining().toMillis())
        .compose(v -> releaseLease(null))
        .compose(v -> switch (then) {
          case EXIT -> {
            enter(State.SHUTTING_DOWN, why + "; exiting with 3");
            exit.accept(3);
            yield Future.<Void>succeededFuture();
          }
          case CPU -> startWorker(Placement.CPU, false);
          case IDLE -> Future.<Void>succeededFuture();
        })
        .onComplete(ar -> afterDown(why));
  }

  /** Stops taking jobs; the worker finishes what runs, hands back the rest, exits (killed after {@code withinMs}). */
  private Future<Void> stopWorker(long withinMs) {
    WorkerProcess w = worker;
    queue.detach();
    if (w == null) {
      return stopping == null ? Future.succeededFuture() : stopping.exited().mapEmpty();
    }
    worker = null; // from now on nothing that happens to w is a crash or a failed start
    stopping = w;
    afterLoad = null;
    if (!w.ready().isComplete()) {
      w.kill(); // still loading: nothing to finish
    }
    long t0 = System.nanoTime();
    return w.stop(withinMs).map(code -> {
      if (stopping == w) {
        stopping = null;
      }
      queue.workerGone(null, true);
      LOG.info("worker {} exited (code {}) {} ms after it was asked to stop; its GPU memory is free", w.pid(), code,
          (System.nanoTime() - t0) / 1_000_000);
      return null;
    });
  }

  private Future<Void> releaseLease(String why) {
    return lease == null ? Future.succeededFuture() : lease.release(why);
  }

  /** Drains, stops the worker, releases the lease. {@code drained} completes when in-flight requests are done. */
  Future<Void> shutdown(String why, Future<Void> drained) {
    if (state != State.SERVING) {
      // No worker to finish the waiting images in time: they end now.
      queue.failPending(new HttpError(503, "shutting_down", "the sidecar is shutting down"));
    }
    enter(State.SHUTTING_DOWN, why);
    return drained.eventually(() -> stopWorker(options.drainTimeoutS() * 1000))
        .eventually(() -> releaseLease("shutdown"))
        .onComplete(ar -> {
          if (lease != null) {
            lease.close();
          }
        });
  }

  private void enter(State s, String why) {
    if (state != s || !why.equals(reason)) {
      LOG.info("state {}: {}", s.name().toLowerCase(Locale.ROOT), why);
    }
    state = s;
    reason = why;
    since = Instant.now();
  }

  State state() {
    return state;
  }

  /** @return the models by name: what the last worker loaded, null for a model no worker has loaded yet */
  Map<String, ModelInfo> models() {
    return models;
  }

  boolean serving() {
    return state == State.SERVING;
  }

  String devices() {
    return String.join("+", models.values().stream().filter(m -> m != null).map(ModelInfo::device).distinct().toList());
  }

  /** The lifecycle part of /health. */
  JsonObject health() {
    JsonObject h = new JsonObject()
        .put("state", state.name().toLowerCase(Locale.ROOT))
        .put("state_reason", reason)
        .put("state_since", since.toString())
        .put("gpu_lease", switch (mode) {
          case LEASED -> options.leaseRequired() ? "required (lease.required)" : "taken when a model runs on a GPU";
          case CPU_ONLY -> "not needed: every model runs on CPU (lease.required is false)";
          case UNGUARDED -> "none: no broker configured, nothing guards the GPU";
        });
    h.put("lease", lease != null ? lease.status() : new JsonObject().put("state", "none"));
    h.put("worker", worker != null ? new JsonObject().put("state", worker.ready().succeeded() ? "serving" : "loading")
        .put("pid", worker.pid())
        : stopping != null ? new JsonObject().put("state", "stopping").put("pid", stopping.pid())
        : new JsonObject().put("state", "stopped"));
    return h;
  }
}
