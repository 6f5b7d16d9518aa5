package io.iqa.sidecar.service;

import io.iqa.client.LeaseLoss;
import io.iqa.protocol.wire.ErrorCode;
import io.iqa.server.HttpError;
import io.iqa.sidecar.model.ModelConfigException;
import io.iqa.sidecar.model.ModelEntry;
import io.iqa.sidecar.service.WorkerSlot.Placement;
import io.iqa.sidecar.worker.ModelInfo;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.util.List;
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
 * lease.required}; its CPU worker sees no GPU at all. The worker process itself is the {@link
 * WorkerSlot}'s; the state with why and since when is kept in a {@link LifecycleState}.
 */
final class Lifecycle {

  private static final Logger LOG = LoggerFactory.getLogger(Lifecycle.class);

  enum State { STARTING, IDLE, ACQUIRING, LOADING, SERVING, DRAINING, LEASE_LOST, SHUTTING_DOWN }

  private final Vertx vertx;
  private final SidecarOptions options;
  private final IntConsumer exit;
  private final GpuMode mode;
  private final SidecarLease lease;
  final WorkQueue queue;
  private final WorkerSlot workers;
  private final LifecycleState status = new LifecycleState();
  private Future<Void> transition = Future.succeededFuture();

  Lifecycle(Vertx vertx, SidecarOptions options, Path baseDir, List<ModelEntry> entries, SidecarMetrics metrics,
      IntConsumer exit) {
    this.vertx = vertx;
    this.options = options;
    this.exit = exit;
    this.queue = new WorkQueue(options.queueLimit(), this::demand);
    this.mode = GpuMode.of(options, entries);
    this.lease = mode == GpuMode.LEASED ? new SidecarLease(vertx, options, this::leaseLost, this::yieldRequested)
        : null;
    this.workers = new WorkerSlot(vertx, options, baseDir.toAbsolutePath(), entries, queue, metrics, lease);
  }

  /**
   * Starts warm: takes the lease if the GPU is free now (no waiting) and loads the models, so a
   * model that does not load stops the start. A busy GPU leaves the sidecar idle (or on CPU when
   * the lease is not required) until the first cache miss.
   */
  Future<Void> start() {
    if (mode == GpuMode.UNGUARDED) {
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
    if (state() == State.IDLE && transition.isComplete()) {
      transition = bringUp(null, false).recover(e -> Future.succeededFuture());
    }
  }

  private Future<Void> bringUp(Double waitS, boolean atStart) {
    if (mode != GpuMode.LEASED) {
      return startWorker(mode == GpuMode.CPU_ONLY ? Placement.CPU : Placement.AS_CONFIGURED, atStart);
    }
    enter(State.ACQUIRING, "waiting for a GPU lease" + (waitS == null ? " (lease.wait_s="
        + options.leaseRequest().waitS() + ")" : ""));
    return lease.acquire(waitS).compose(l -> startWorker(Placement.LEASED_GPU, atStart), err -> {
      if (options.leaseRequired()) {
        enter(State.IDLE, "no GPU lease: " + err.getMessage() + (atStart ? "; the first cache miss waits for one" : ""));
        queue.failPending(new HttpError(503, ErrorCode.GPU_UNAVAILABLE, "no GPU lease within lease.wait_s="
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
    WorkerProcess w = workers.start(where);
    w.exited().onSuccess(code -> workerExited(w, code));
    return w.ready().compose(ready -> {
      if (!workers.current(w)) {
        return Future.succeededFuture();
      }
      workers.loaded(ready, where);
      enter(State.SERVING, "worker " + w.pid() + " loaded the models in " + ready.getLong("load_ms") + " ms on "
          + devices());
      workers.serve(w);
      return Future.<Void>succeededFuture();
    }, err -> {
      if (!workers.current(w)) {
        return Future.succeededFuture();
      }
      workers.drop();
      w.kill();
      String why = "the models did not load: " + err.getMessage();
      queue.failPending(new HttpError(ErrorCode.MODELS_UNAVAILABLE, why));
      return w.exited().transform(x -> releaseLease(null)).compose(v -> {
        enter(State.IDLE, why);
        return atStart ? Future.failedFuture(new ModelConfigException(why)) : Future.succeededFuture();
      });
    });
  }

  /** The worker exited on its own (a crash): what it was scoring fails, the lease goes back. */
  private void workerExited(WorkerProcess w, int code) {
    if (!workers.current(w) || state() != State.SERVING) {
      return;
    }
    workers.drop();
    queue.detach();
    String why = "the worker (pid " + w.pid() + ") exited with code " + code + " while serving";
    LOG.error("{}; failing its images, releasing the lease", why);
    enter(State.DRAINING, why);
    queue.workerGone(new HttpError(ErrorCode.WORKER_FAILED, why + "; retry"), false);
    transition = releaseLease("worker exited").onComplete(ar -> afterDown(why));
  }

  private void releaseIfIdle(long idleS) {
    if (state() == State.SERVING && queue.idle() && transition.isComplete()
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
    if (state() == State.SERVING) {
      yieldNow.run();
    } else if (state() == State.LOADING) {
      workers.whenServing(yieldNow);
    }
  }

  /**
   * {@code POST /release}: the worker stops (running calls finish, the rest waits), the lease is
   * released; cache hits are still served and the next miss brings a worker back. Completes when idle.
   */
  Future<Void> release(String why) {
    transition = transition.eventually(() -> state() == State.SERVING || state() == State.LOADING
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
    return workers.finishThenStop(withinMs).compose(v -> releaseLease(releaseReason));
  }

  private void afterDown(String why) {
    if (state() == State.DRAINING || state() == State.LEASE_LOST) {
      enter(State.IDLE, why);
    }
    if (state() == State.IDLE && queue.hasPending()) {
      demand();
    }
  }

  /** Revoked or lost: no new model call; running ones finish within the holder's deadline; then as on_lease_lost says. */
  private void leaseLost(LeaseLoss loss) {
    if (state() == State.SHUTTING_DOWN) {
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
      queue.failPending(new HttpError(503, ErrorCode.LEASE_LOST, why + "; the sidecar is exiting"));
    }
    // At once, not after a transition under way: the holder's deadline runs.
    transition = workers.stop(lease.remaining().toMillis())
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

  private Future<Void> releaseLease(String why) {
    return lease == null ? Future.succeededFuture() : lease.release(why);
  }

  /** Drains, stops the worker, releases the lease. {@code drained} completes when in-flight requests are done. */
  Future<Void> shutdown(String why, Future<Void> drained) {
    if (state() != State.SERVING) {
      // No worker to finish the waiting images in time: they end now.
      queue.failPending(new HttpError(ErrorCode.SHUTTING_DOWN, "the sidecar is shutting down"));
    }
    enter(State.SHUTTING_DOWN, why);
    return drained.eventually(() -> workers.stop(options.drainTimeoutS() * 1000))
        .eventually(() -> releaseLease("shutdown"))
        .onComplete(ar -> {
          if (lease != null) {
            lease.close();
          }
        });
  }

  private void enter(State s, String why) {
    status.enter(s, why);
  }

  State state() {
    return status.get();
  }

  /** @return the models by name: what the last worker loaded, null for a model no worker has loaded yet */
  Map<String, ModelInfo> models() {
    return workers.models();
  }

  boolean serving() {
    return state() == State.SERVING;
  }

  String devices() {
    return workers.devices();
  }

  /** The lifecycle part of /health. */
  JsonObject health() {
    JsonObject h = status.toJson().put("gpu_lease", mode.describe(options));
    h.put("lease", lease != null ? lease.status() : new JsonObject().put("state", "none"));
    h.put("worker", workers.health());
    return h;
  }
}
