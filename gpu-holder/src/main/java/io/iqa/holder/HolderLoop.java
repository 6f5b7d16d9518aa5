package io.iqa.holder;

import io.iqa.holder.HolderRules.Phase;
import io.iqa.protocol.wire.LeaseRequest;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntConsumer;

/**
 * When a holder holds the GPU: the edge of {@link HolderRules} on the front's event loop, the one
 * lifecycle the sidecar and {@code iqa gpu serve} share. Every happening (work with no worker, the
 * lease's grant, loss, yield request and renewals, a worker's readiness, failure, exit or silence,
 * the idle timer, a release or shutdown asked) becomes one event, handled in order from one queue,
 * and the rules' actions are carried out here: the lease through {@link HolderLease}, the worker
 * through an {@link Upstream}, the work through its {@link Pending}. The state with why and since
 * when is kept in a {@link HolderState}.
 *
 * <p>Build it, build the upstream and the work with {@link #lease()} and {@link #demand()}, then
 * {@link #bind} them and {@link #start()}.
 */
public final class HolderLoop {

  /** Where the broker is and what to ask it for; null in {@link GpuMode#LEASED} only. */
  public record LeaseSpec(String brokerUrl, String token, LeaseRequest request) {
  }

  /**
   * @param idleReleaseS release after this long without work (0: never)
   * @param idleWhy the state's reason then ("no cache miss for idle_release_s=300")
   * @param heartbeatTimeoutS a worker silent this long is hung (0: not watched)
   * @param jobTimeoutS a job running this long is hung (0: not watched)
   */
  public record Timing(long idleReleaseS, String idleWhy, long heartbeatTimeoutS, long jobTimeoutS) {
  }

  /** The start failed: {@code getMessage()} says why (the models did not load, the server did not start). */
  public static final class StartFailed extends RuntimeException {
    StartFailed(String why) {
      super(why);
    }
  }

  private final Vertx vertx;
  private final HolderRules.Settings settings;
  private final Timing timing;
  private final IntConsumer exit;
  private final HolderLease lease;
  private final HolderRules rules;
  private final HolderState status = new HolderState();
  private final HolderInbox inbox;
  private Upstream workers;
  private Pending work;
  private final Promise<Void> started = Promise.promise();
  private final List<Promise<Void>> releases = new ArrayList<>();
  private Promise<Void> shutdown;
  private long drainTimer = -1;

  /** @param leaseSpec the lease to take, in {@link GpuMode#LEASED}; ignored otherwise */
  public HolderLoop(Vertx vertx, HolderRules.Settings settings, Timing timing, LeaseSpec leaseSpec, IntConsumer exit) {
    this.vertx = vertx;
    this.settings = settings;
    this.timing = timing;
    this.exit = exit;
    this.lease = settings.mode() == GpuMode.LEASED ? new HolderLease(vertx, leaseSpec.brokerUrl(),
        leaseSpec.token(), leaseSpec.request(),
        loss -> fire(new HolderEvent.LeaseLost(System.nanoTime(), loss, remainingMs())),
        why -> fire(new HolderEvent.Yield(System.nanoTime(), why, remainingMs())),
        stopBy -> fire(new HolderEvent.Deadline(System.nanoTime(), stopBy))) : null;
    this.rules = new HolderRules(settings);
    this.inbox = new HolderInbox(rules, (e, actions) -> carryOut(actions));
  }

  /** @return the lease, null when this holder takes none */
  public HolderLease lease() {
    return lease;
  }

  /** @return what the work calls when it waits and no worker takes it */
  public Runnable demand() {
    return () -> fire(new HolderEvent.Demand(System.nanoTime()));
  }

  public void bind(Upstream upstream, Pending pending) {
    this.workers = upstream;
    this.work = pending;
  }

  /**
   * Starts warm: takes the lease if the GPU is free now (no waiting) and launches the worker, so a
   * worker that does not come up stops the start ({@link StartFailed}). A busy GPU leaves the holder
   * idle (or on CPU when the lease is not required) until the first demand.
   */
  public Future<Void> start() {
    return start(true);
  }

  /** @param warm false: start idle, with no lease and no worker until the first demand */
  public Future<Void> start(boolean warm) {
    long idle = timing.idleReleaseS();
    if (idle > 0) {
      vertx.setPeriodic(Math.max(100, Math.min(1000, idle * 250)), id -> {
        if (rules.phase() == Phase.SERVING && work.idle()
            && System.nanoTime() - work.lastWorkNanos() > idle * 1_000_000_000L) {
          fire(new HolderEvent.Idle(System.nanoTime(), timing.idleWhy()));
        }
      });
    }
    long heartbeat = timing.heartbeatTimeoutS() * 1_000_000_000L;
    long job = timing.jobTimeoutS() * 1_000_000_000L;
    if (heartbeat > 0 || job > 0) {
      vertx.setPeriodic(1000, id -> {
        if (rules.workerUp() && (rules.phase() == Phase.SERVING || rules.phase() == Phase.DRAINING)) {
          String why = workers.hung(rules.gen(), heartbeat, job);
          if (why != null) {
            fire(new HolderEvent.WorkerHung(System.nanoTime(), rules.gen(), why));
          }
        }
      });
    }
    fire(warm ? new HolderEvent.Start(System.nanoTime()) : new HolderEvent.StartIdle(System.nanoTime()));
    return started.future();
  }

  private void fire(HolderEvent e) {
    inbox.fire(e);
  }

  private void carryOut(List<HolderAction> actions) {
    for (HolderAction a : actions) {
      if (a instanceof HolderAction.Enter en) {
        status.enter(en.phase(), en.why());
        if (en.phase() == Phase.IDLE && work.hasPending()) {
          fire(new HolderEvent.Demand(System.nanoTime()));
        }
      } else if (a instanceof HolderAction.Acquire acq) {
        lease.acquire(acq.waitS()).onComplete(ar -> fire(ar.succeeded()
            ? new HolderEvent.Granted(System.nanoTime(), ar.result().gpu(), ar.result().stopByNanos())
            : new HolderEvent.Refused(System.nanoTime(), ar.cause().getMessage())));
      } else if (a instanceof HolderAction.Launch l) {
        workers.launch(l.gen(), l.where(), l.stopByNanos(), this::fire);
      } else if (a instanceof HolderAction.Attach at) {
        work.attach(at.gen());
      } else if (a instanceof HolderAction.Detach) {
        work.detach();
      } else if (a instanceof HolderAction.AwaitSentAnswered w) {
        awaitSentAnswered(w.withinMs());
      } else if (a instanceof HolderAction.StopWorker s) {
        workers.stop(s.gen(), s.withinMs());
      } else if (a instanceof HolderAction.KillWorker k) {
        workers.kill(k.gen());
      } else if (a instanceof HolderAction.FailPending f) {
        work.failPending(f.error());
      } else if (a instanceof HolderAction.SentGone s) {
        work.sentGone(s.error(), s.retry());
      } else if (a instanceof HolderAction.Release r) {
        lease.release(r.reason()).onComplete(ar -> fire(new HolderEvent.LeaseReleased(System.nanoTime())));
      } else if (a instanceof HolderAction.SendDeadline d) {
        workers.stopBy(d.gen(), d.stopByNanos());
      } else if (a instanceof HolderAction.Exit x) {
        exit.accept(x.code());
      } else if (a instanceof HolderAction.StartDone d) {
        if (d.failure() == null) {
          started.tryComplete();
        } else {
          started.tryFail(new StartFailed(d.failure()));
        }
      } else if (a instanceof HolderAction.ReleaseDone) {
        if (!releases.isEmpty()) {
          releases.remove(0).tryComplete();
        }
      } else if (a instanceof HolderAction.ShutdownDone) {
        if (lease != null) {
          lease.close();
        }
        if (shutdown != null) {
          shutdown.tryComplete();
        }
      }
    }
  }

  /** The work sent to the worker answered, or the bound passed: one event either way. */
  private void awaitSentAnswered(long withinMs) {
    if (drainTimer >= 0) {
      vertx.cancelTimer(drainTimer);
    }
    boolean[] told = {false};
    Runnable tell = () -> {
      if (!told[0]) {
        told[0] = true;
        vertx.cancelTimer(drainTimer);
        fire(new HolderEvent.SentAnswered(System.nanoTime()));
      }
    };
    drainTimer = vertx.setTimer(Math.max(1, withinMs), t -> {
      if (!told[0]) {
        told[0] = true;
        fire(new HolderEvent.DrainTimedOut(System.nanoTime()));
      }
    });
    work.whenSentAnswered().onComplete(ar -> tell.run());
  }

  private long remainingMs() {
    return lease == null ? 0 : lease.remaining().toMillis();
  }

  /**
   * Gives the GPU back now: the worker stops (running work finishes, the rest waits), the lease is
   * released; the next demand brings a worker back. Completes when the GPU is back (idle).
   */
  public Future<Void> release(String why) {
    Promise<Void> done = Promise.promise();
    releases.add(done);
    fire(new HolderEvent.ReleaseAsked(System.nanoTime(), why));
    return done.future();
  }

  /** Drains, stops the worker, releases the lease. {@code drained} completes when in-flight requests are done. */
  public Future<Void> shutdown(String why, Future<Void> drained) {
    if (shutdown == null) {
      shutdown = Promise.promise();
      fire(new HolderEvent.ShutdownAsked(System.nanoTime(), why));
      drained.onComplete(ar -> fire(new HolderEvent.InflightDrained(System.nanoTime())));
    }
    return shutdown.future();
  }

  public Phase state() {
    return status.get();
  }

  /** The lifecycle part of /health. */
  public JsonObject health() {
    JsonObject h = status.toJson().put("gpu_lease", settings.mode().describe(settings.leaseRequired()));
    h.put("lease", lease != null ? lease.status() : new JsonObject().put("state", "none"));
    h.put("worker", workers.health(rules.phase()));
    return h;
  }
}
