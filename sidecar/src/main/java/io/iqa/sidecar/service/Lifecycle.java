package io.iqa.sidecar.service;

import io.iqa.sidecar.model.ModelConfigException;
import io.iqa.sidecar.model.ModelEntry;
import io.iqa.sidecar.service.SidecarRules.Phase;
import io.iqa.sidecar.worker.ModelInfo;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.function.IntConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * When the sidecar holds the GPU: the edge of {@link SidecarRules} on the front's event loop. Every
 * happening (a cache miss with no worker, the lease's grant, loss, yield request and renewals, a
 * worker's READY, failure, exit or silence, the idle timer, /release, /shutdown) becomes one event,
 * handled in order from one queue, and the rules' actions are carried out here: the lease through
 * {@link SidecarLease}, the worker processes through {@link WorkerSlot}, the images through the
 * {@link WorkQueue}. The state with why and since when is kept in a {@link LifecycleState}.
 */
final class Lifecycle {

  private static final Logger LOG = LoggerFactory.getLogger(Lifecycle.class);

  private final Vertx vertx;
  private final SidecarOptions options;
  private final IntConsumer exit;
  private final GpuMode mode;
  private final SidecarLease lease;
  final WorkQueue queue;
  private final WorkerSlot workers;
  private final SidecarRules rules;
  private final LifecycleState status = new LifecycleState();
  private final Deque<SidecarRules.Event> events = new ArrayDeque<>();
  private boolean handling;
  private final Promise<Void> started = Promise.promise();
  private final List<Promise<Void>> releases = new ArrayList<>();
  private Promise<Void> shutdown;
  private long drainTimer = -1;

  Lifecycle(Vertx vertx, SidecarOptions options, Path baseDir, List<ModelEntry> entries, SidecarMetrics metrics,
      IntConsumer exit) {
    this.vertx = vertx;
    this.options = options;
    this.exit = exit;
    this.queue = new WorkQueue(options.queueLimit(), () -> fire(new SidecarRules.Demand(System.nanoTime())));
    this.mode = GpuMode.of(options, entries);
    this.lease = mode == GpuMode.LEASED ? new SidecarLease(vertx, options,
        loss -> fire(new SidecarRules.LeaseLost(System.nanoTime(), loss, remainingMs())),
        why -> fire(new SidecarRules.Yield(System.nanoTime(), why, remainingMs())),
        stopBy -> fire(new SidecarRules.Deadline(System.nanoTime(), stopBy))) : null;
    this.workers = new WorkerSlot(vertx, options, baseDir.toAbsolutePath(), entries, queue, metrics, lease);
    this.rules = new SidecarRules(new SidecarRules.Settings(mode, options.leaseRequired(), options.onLeaseLost(),
        options.drainTimeoutS() * 1000, options.leaseRequest().waitS()));
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
    long idle = options.idleReleaseS();
    if (idle > 0) {
      vertx.setPeriodic(Math.max(100, Math.min(1000, idle * 250)), id -> {
        if (rules.phase() == Phase.SERVING && queue.idle()
            && System.nanoTime() - queue.lastWorkNanos() > idle * 1_000_000_000L) {
          fire(new SidecarRules.Idle(System.nanoTime(), "no cache miss for idle_release_s=" + idle));
        }
      });
    }
    long heartbeat = options.workerHeartbeatTimeoutS() * 1_000_000_000L;
    long job = options.workerJobTimeoutS() * 1_000_000_000L;
    vertx.setPeriodic(1000, id -> {
      if (rules.workerUp() && (rules.phase() == Phase.SERVING || rules.phase() == Phase.DRAINING)) {
        String why = workers.hung(rules.gen(), heartbeat, job);
        if (why != null) {
          fire(new SidecarRules.WorkerHung(System.nanoTime(), rules.gen(), why));
        }
      }
    });
    fire(new SidecarRules.Start(System.nanoTime()));
    return started.future();
  }

  /** Queues {@code e} and handles every queued event in order; an event an action raises waits its turn. */
  private void fire(SidecarRules.Event e) {
    events.addLast(e);
    if (handling) {
      return;
    }
    handling = true;
    try {
      while (!events.isEmpty()) {
        carryOut(rules.handle(events.pollFirst()));
      }
    } finally {
      handling = false;
    }
  }

  private void carryOut(List<SidecarRules.Action> actions) {
    for (SidecarRules.Action a : actions) {
      if (a instanceof SidecarRules.Enter en) {
        status.enter(en.phase(), en.why());
        if (en.phase() == Phase.IDLE && queue.hasPending()) {
          fire(new SidecarRules.Demand(System.nanoTime()));
        }
      } else if (a instanceof SidecarRules.Acquire acq) {
        lease.acquire(acq.waitS()).onComplete(ar -> fire(ar.succeeded()
            ? new SidecarRules.Granted(System.nanoTime(), ar.result().gpu(), ar.result().stopByNanos())
            : new SidecarRules.Refused(System.nanoTime(), ar.cause().getMessage())));
      } else if (a instanceof SidecarRules.Launch l) {
        workers.launch(l.gen(), l.where(), l.stopByNanos(), this::fire);
      } else if (a instanceof SidecarRules.Attach at) {
        queue.attach(workers.sender(at.gen()));
      } else if (a instanceof SidecarRules.Detach) {
        queue.detach();
      } else if (a instanceof SidecarRules.AwaitSentAnswered w) {
        awaitSentAnswered(w.withinMs());
      } else if (a instanceof SidecarRules.StopWorker s) {
        workers.stop(s.gen(), s.withinMs());
      } else if (a instanceof SidecarRules.KillWorker k) {
        workers.kill(k.gen());
      } else if (a instanceof SidecarRules.FailPending f) {
        queue.failPending(f.error());
      } else if (a instanceof SidecarRules.FailSent f) {
        queue.workerGone(f.error(), false);
      } else if (a instanceof SidecarRules.RequeueSent) {
        queue.workerGone(null, true);
      } else if (a instanceof SidecarRules.Release r) {
        lease.release(r.reason()).onComplete(ar -> fire(new SidecarRules.LeaseReleased(System.nanoTime())));
      } else if (a instanceof SidecarRules.SendDeadline d) {
        workers.stopBy(d.gen(), d.stopByNanos());
      } else if (a instanceof SidecarRules.Exit x) {
        exit.accept(x.code());
      } else if (a instanceof SidecarRules.StartDone d) {
        if (d.failure() == null) {
          started.tryComplete();
        } else {
          started.tryFail(new ModelConfigException(d.failure()));
        }
      } else if (a instanceof SidecarRules.ReleaseDone) {
        if (!releases.isEmpty()) {
          releases.remove(0).tryComplete();
        }
      } else if (a instanceof SidecarRules.ShutdownDone) {
        if (lease != null) {
          lease.close();
        }
        if (shutdown != null) {
          shutdown.tryComplete();
        }
      }
    }
  }

  /** The images sent to the worker answered, or the bound passed: one event either way. */
  private void awaitSentAnswered(long withinMs) {
    if (drainTimer >= 0) {
      vertx.cancelTimer(drainTimer);
    }
    boolean[] told = {false};
    Runnable tell = () -> {
      if (!told[0]) {
        told[0] = true;
        vertx.cancelTimer(drainTimer);
        fire(new SidecarRules.SentAnswered(System.nanoTime()));
      }
    };
    drainTimer = vertx.setTimer(Math.max(1, withinMs), t -> {
      if (!told[0]) {
        told[0] = true;
        fire(new SidecarRules.DrainTimedOut(System.nanoTime()));
      }
    });
    queue.whenSentAnswered().onComplete(ar -> tell.run());
  }

  private long remainingMs() {
    return lease == null ? 0 : lease.remaining().toMillis();
  }

  /**
   * {@code POST /release}: the worker stops (running calls finish, the rest waits), the lease is
   * released; cache hits are still served and the next miss brings a worker back. Completes when the
   * GPU is back (idle).
   */
  Future<Void> release(String why) {
    Promise<Void> done = Promise.promise();
    releases.add(done);
    fire(new SidecarRules.ReleaseAsked(System.nanoTime(), why));
    return done.future();
  }

  /** Drains, stops the worker, releases the lease. {@code drained} completes when in-flight requests are done. */
  Future<Void> shutdown(String why, Future<Void> drained) {
    if (shutdown == null) {
      shutdown = Promise.promise();
      fire(new SidecarRules.ShutdownAsked(System.nanoTime(), why));
      drained.onComplete(ar -> fire(new SidecarRules.InflightDrained(System.nanoTime())));
    }
    return shutdown.future();
  }

  Phase state() {
    return status.get();
  }

  /** @return the models by name: what the last worker loaded, null for a model no worker has loaded yet */
  Map<String, ModelInfo> models() {
    return workers.models();
  }

  boolean serving() {
    return state() == Phase.SERVING;
  }

  String devices() {
    return workers.devices();
  }

  /** The lifecycle part of /health. */
  JsonObject health() {
    JsonObject h = status.toJson().put("gpu_lease", mode.describe(options));
    h.put("lease", lease != null ? lease.status() : new JsonObject().put("state", "none"));
    h.put("worker", workers.health(rules.phase()));
    return h;
  }

}
