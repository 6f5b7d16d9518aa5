package io.iqa.holder;

import io.iqa.client.LeaseLoss;
import io.iqa.protocol.wire.ErrorCode;
import io.iqa.server.HttpError;
import java.util.ArrayList;
import java.util.List;

/**
 * When a holder that serves requests holds the GPU, without I/O: a (state, event) -> (state,
 * actions) table over the lease and one <b>worker</b> at a time, the program that uses the leased
 * GPU: the sidecar's worker process, or a model server behind {@code iqa gpu serve} while it is
 * awake (launching it wakes or starts the server, stopping it puts it to sleep, and it is "gone"
 * once its GPU memory is). The {@link HolderLoop} is its edge on the front's event loop (every
 * event handled in order, actions carried out after), the simulator drives it on a virtual clock.
 * Workers are numbered ({@code gen}); an event about a worker that is no longer the current one is
 * ignored.
 *
 * <pre>
 * STARTING   StartIdle           -> IDLE       (a cold start: nothing until the first demand)
 * IDLE       Start, Demand       -> ACQUIRING  Acquire                 (no lease needed: LOADING, Launch)
 * ACQUIRING  Granted             -> LOADING    Launch(gen, gpu, deadline)
 *            Refused             -> IDLE       FailPending(gpu_unavailable)   (lease not required: LOADING, Launch cpu)
 *            Release/Shutdown asked            remembered: the lease is released as soon as it comes
 * LOADING    WorkerReady         -> SERVING    Attach                  (a yield or /release asked meanwhile: serve
 *                                                                      what waited, then DRAINING)
 *            WorkerFailed        -> DRAINING   Kill, FailPending(models_unavailable)
 *            WorkerGone          -> DRAINING   FailPending(worker_failed), Release   (a launch that failed)
 *            LeaseLost           -> LEASE_LOST Kill                    (a kill before the process exists is carried
 *                                                                      out by the edge the moment it does)
 *            ShutdownAsked       -> SHUTTING_DOWN  Kill, FailPending(shutting_down)
 * SERVING    Idle, Yield, /release -> DRAINING Detach, AwaitSentAnswered(bound)
 *            LeaseLost           -> LEASE_LOST Detach, Stop(gen, the holder's time left)
 *            WorkerGone (crash)  -> DRAINING   Detach, FailSent(worker_failed), Release
 *            WorkerHung          -> DRAINING   Detach, Kill, FailSent(worker_failed)
 *            ShutdownAsked       -> SHUTTING_DOWN  (in-flight requests finish first, then as below)
 * DRAINING   SentAnswered, DrainTimedOut         Stop(gen, what is left of the bound)
 *            WorkerGone                          RequeueSent, Release  (the unstarted images wait for the next worker)
 *            LeaseLost           -> LEASE_LOST   Stop(gen, the holder's time left): sooner, never later
 * any        LeaseReleased       -> IDLE, or LEASE_LOST's on_lease_lost (idle, a CPU worker, exit 3), or done
 * any        Deadline            SendDeadline(gen) to a worker under the lease: it stops by it on its own clock
 * </pre>
 * Every worker that was launched (or asked to launch) ends with exactly one {@code WorkerGone}; the
 * lease is released only after it.
 */
public final class HolderRules {

  public enum Phase { STARTING, IDLE, ACQUIRING, LOADING, SERVING, DRAINING, LEASE_LOST, SHUTTING_DOWN }

  /** Where one worker runs its models. */
  public enum Placement { LEASED_GPU, CPU, AS_CONFIGURED }

  /**
   * What the rules need of the configuration.
   *
   * @param waitS lease.wait_s, for messages
   * @param name what the holder calls itself in messages ("sidecar", "front")
   */
  public record Settings(GpuMode mode, boolean leaseRequired, OnLeaseLost onLeaseLost,
      long drainTimeoutMs, double waitS, String name) {
    public Settings(GpuMode mode, boolean leaseRequired, OnLeaseLost onLeaseLost, long drainTimeoutMs, double waitS) {
      this(mode, leaseRequired, onLeaseLost, drainTimeoutMs, waitS, "sidecar");
    }
  }

  public sealed interface Event {
    long now();
  }

  /** The holder starts: take the lease if the GPU is free now, load the models (or wake the server). */
  public record Start(long now) implements Event {
  }

  /** The holder starts cold: no lease and no worker until work comes ({@code iqa gpu serve}). */
  public record StartIdle(long now) implements Event {
  }

  /** Work waits and no worker takes it. */
  public record Demand(long now) implements Event {
  }

  /** The lease came: its gpu and the time (nanoTime) the holder must stop by. */
  public record Granted(long now, int gpu, long stopByNanos) implements Event {
  }

  /** No lease came ({@code why}). */
  public record Refused(long now, String why) implements Event {
  }

  public record WorkerReady(long now, int gen, long loadMs) implements Event {
  }

  /** The worker said its models did not load, or did not say READY in time. */
  public record WorkerFailed(long now, int gen, String why) implements Event {
  }

  /** The worker's process is gone (it exited, was killed, or could not be started at all). */
  public record WorkerGone(long now, int gen, int code, String why) implements Event {
  }

  /** The worker stopped answering (no heartbeat, or a job past its timeout). */
  public record WorkerHung(long now, int gen, String why) implements Event {
  }

  /** Every image sent to the worker has its answer. */
  public record SentAnswered(long now) implements Event {
  }

  /** The drain's bound passed before every image sent had its answer. */
  public record DrainTimedOut(long now) implements Event {
  }

  /** No cache miss for idle_release_s. */
  public record Idle(long now, String why) implements Event {
  }

  /** The broker asks for the GPU. */
  public record Yield(long now, String why, long remainingMs) implements Event {
  }

  /** POST /release. */
  public record ReleaseAsked(long now, String why) implements Event {
  }

  /** The lease was revoked or lost; {@code remainingMs} to the holder's own deadline. */
  public record LeaseLost(long now, LeaseLoss loss, long remainingMs) implements Event {
  }

  /** A renew moved the holder's deadline. */
  public record Deadline(long now, long stopByNanos) implements Event {
  }

  /** The release the rules asked for is done (or failed: the broker hands on at expires_at). */
  public record LeaseReleased(long now) implements Event {
  }

  /** /shutdown or SIGTERM. */
  public record ShutdownAsked(long now, String why) implements Event {
  }

  /** The HTTP requests in flight at a shutdown are answered. */
  public record InflightDrained(long now) implements Event {
  }

  public sealed interface Action {
  }

  /** The lifecycle's state changed: /health and the log. */
  public record Enter(Phase phase, String why) implements Action {
  }

  /** Ask the broker for the lease (lease.wait_s when {@code waitS} is null). */
  public record Acquire(Double waitS) implements Action {
  }

  /** Start worker {@code gen}; under a lease it must stop by {@code stopByNanos} on its own. */
  public record Launch(int gen, Placement where, Long stopByNanos) implements Action {
  }

  /** The queue's jobs go to worker {@code gen}. */
  public record Attach(int gen) implements Action {
  }

  /** The queue stops sending jobs: they wait for the next worker. */
  public record Detach() implements Action {
  }

  /** Tell {@link SentAnswered} once every image sent has its answer, {@link DrainTimedOut} after {@code withinMs}. */
  public record AwaitSentAnswered(long withinMs) implements Action {
  }

  /** Worker {@code gen}: finish what runs, hand back the rest, exit; killed after {@code withinMs}. */
  public record StopWorker(int gen, long withinMs) implements Action {
  }

  /** Worker {@code gen}: SIGKILL now (once launched, if it is not yet). */
  public record KillWorker(int gen) implements Action {
  }

  /** The images waiting for a worker fail with {@code error}. */
  public record FailPending(HttpError error) implements Action {
  }

  /** The images sent to the worker and not answered fail with {@code error}. */
  public record FailSent(HttpError error) implements Action {
  }

  /** The images sent to the worker and not answered wait for the next one. */
  public record RequeueSent() implements Action {
  }

  /** Release the lease (the worker is gone), with {@code reason} for the broker's event (or none). */
  public record Release(String reason) implements Action {
  }

  /** Worker {@code gen} under the lease must stop by {@code stopByNanos} when no newer word comes. */
  public record SendDeadline(int gen, long stopByNanos) implements Action {
  }

  /** The process exits with {@code code}. */
  public record Exit(int code) implements Action {
  }

  /** The start is done: {@code failure} says why it failed (the models did not load), else null. */
  public record StartDone(String failure) implements Action {
  }

  /** The holder has no worker and no lease: a POST /release waiting for that is answered. */
  public record ReleaseDone() implements Action {
  }

  /** The shutdown is done: worker gone, lease released. */
  public record ShutdownDone() implements Action {
  }

  /** What comes once the worker is gone and the lease released. */
  private enum Then { IDLE, LOST }

  private final Settings settings;
  private Phase phase = Phase.STARTING;
  private int gen;
  /** The current worker was launched (or asked to) and is not gone yet. */
  private boolean workerUp;
  private boolean workerReady;
  private boolean workerStopping;
  private Placement placement;
  private boolean leaseHeld;
  private boolean acquiring;
  private boolean releasing;
  private boolean atStart;
  private int releaseCallers;
  /** Asked while the worker loaded: done once it has served what waited for it. */
  private String downAfterLoad;
  private String downAfterLoadReason;
  private long downAfterLoadWithinMs;
  private boolean drainingSent;
  private long drainDeadline;
  private String downWhy;
  private String releaseReason;
  private Then then = Then.IDLE;
  private boolean shutdownAsked;
  private boolean inflightDrained;
  private long stopByNanos = -1;
  private String lostWhy;

  public HolderRules(Settings settings) {
    this.settings = settings;
  }

  public Phase phase() {
    return phase;
  }

  /** @return the current worker's number (0 before the first) */
  public int gen() {
    return gen;
  }

  public boolean leaseHeld() {
    return leaseHeld;
  }

  public boolean workerUp() {
    return workerUp;
  }

  public List<Action> handle(Event e) {
    List<Action> out = new ArrayList<>();
    if (e instanceof Deadline d) {
      stopByNanos = d.stopByNanos();
      if (workerUp && placement == Placement.LEASED_GPU) {
        out.add(new SendDeadline(gen, d.stopByNanos()));
      }
      return out;
    }
    if (e instanceof LeaseReleased) {
      releasing = false;
      leaseHeld = false;
      afterReleased(e.now(), out);
      return out;
    }
    if (e instanceof ShutdownAsked s) {
      shutdown(s, out);
      return out;
    }
    if (e instanceof InflightDrained d) {
      inflightDrained = true;
      if (shutdownAsked) {
        goDownNow(d.now(), out);
      }
      return out;
    }
    if (e instanceof ReleaseAsked r) {
      releaseAsked(r, out);
      return out;
    }
    if (e instanceof LeaseLost l) {
      leaseLost(l, out);
      return out;
    }
    switch (phase) {
      case STARTING, IDLE -> idle(e, out);
      case ACQUIRING -> acquiring(e, out);
      case LOADING -> loading(e, out);
      case SERVING -> serving(e, out);
      case DRAINING, LEASE_LOST, SHUTTING_DOWN -> goingDown(e, out);
    }
    return out;
  }

  private void idle(Event e, List<Action> out) {
    if (e instanceof StartIdle) {
      atStart = true;
      enter(Phase.IDLE, "no GPU lease until a request comes", out);
      startDone(null, out);
    } else if (e instanceof Start || e instanceof Demand) {
      atStart = e instanceof Start;
      bringUp(out);
    }
  }

  private void bringUp(List<Action> out) {
    then = Then.IDLE;
    downWhy = null;
    releaseReason = null;
    if (settings.mode() != GpuMode.LEASED) {
      launch(settings.mode() == GpuMode.CPU_ONLY ? Placement.CPU : Placement.AS_CONFIGURED, "starting the worker"
          + (settings.mode() == GpuMode.CPU_ONLY ? " on CPU" : ""), out);
      return;
    }
    enter(Phase.ACQUIRING, "waiting for a GPU lease" + (atStart ? "" : " (lease.wait_s=" + settings.waitS() + ")"),
        out);
    acquiring = true;
    out.add(new Acquire(atStart ? 0.0 : null));
  }

  private void launch(Placement where, String why, List<Action> out) {
    gen++;
    placement = where;
    workerUp = true;
    workerReady = false;
    workerStopping = false;
    enter(Phase.LOADING, why, out);
    out.add(new Launch(gen, where, where == Placement.LEASED_GPU && stopByNanos >= 0 ? stopByNanos : null));
  }

  private void acquiring(Event e, List<Action> out) {
    if (e instanceof Granted g) {
      acquiring = false;
      leaseHeld = true;
      stopByNanos = g.stopByNanos();
      if (g.stopByNanos() <= g.now()) {
        // The grant came too late to use (its answer was slow, or this process was paused): back at once.
        downWhy = "the GPU lease came after its own deadline";
        releaseReason = null;
        then = Then.IDLE;
        enter(Phase.DRAINING, downWhy, out);
        workerGone(e.now(), out);
        return;
      }
      if (downAfterLoad != null) {
        // Asked to give the GPU back before it came: back at once.
        String why = downAfterLoad;
        downAfterLoad = null;
        down(e.now(), why, downAfterLoadReason, 0, Then.IDLE, out);
        return;
      }
      launch(Placement.LEASED_GPU, "starting the worker on gpu " + g.gpu(), out);
    } else if (e instanceof Refused r) {
      acquiring = false;
      if (downAfterLoad != null) {
        downAfterLoad = null;
        reachedIdle(r.why(), out);
        return;
      }
      if (settings.leaseRequired()) {
        reachedIdle("no GPU lease: " + r.why() + (atStart ? "; the first cache miss waits for one" : ""), out);
        out.add(new FailPending(new HttpError(503, ErrorCode.GPU_UNAVAILABLE, "no GPU lease within lease.wait_s="
            + settings.waitS() + ": " + r.why(), null, 5)));
        startDone(null, out);
      } else {
        launch(Placement.CPU, "no GPU lease (" + r.why() + "); starting the worker on CPU (lease.required is false)",
            out);
      }
    }
  }

  private void loading(Event e, List<Action> out) {
    if (e instanceof WorkerReady r && r.gen() == gen) {
      workerReady = true;
      enter(Phase.SERVING, "worker loaded the models in " + r.loadMs() + " ms", out);
      out.add(new Attach(gen));
      startDone(null, out);
      if (downAfterLoad != null) {
        String why = downAfterLoad;
        downAfterLoad = null;
        down(e.now(), why, downAfterLoadReason, downAfterLoadWithinMs, Then.IDLE, out);
      }
    } else if (e instanceof WorkerFailed f && f.gen() == gen) {
      String why = "the models did not load: " + f.why();
      out.add(new KillWorker(gen));
      workerStopping = true;
      out.add(new FailPending(new HttpError(ErrorCode.MODELS_UNAVAILABLE, why)));
      downWhy = why;
      releaseReason = null;
      then = Then.IDLE;
      enter(Phase.DRAINING, why, out);
      startDone(atStart ? why : null, out);
    } else if (e instanceof WorkerGone g && g.gen() == gen) {
      workerUp = false;
      String why = "the worker could not be started or exited while loading (" + g.why() + ")";
      out.add(new FailPending(new HttpError(503, ErrorCode.WORKER_FAILED, why + "; retry", null, 5)));
      downWhy = why;
      releaseReason = null;
      then = Then.IDLE;
      enter(Phase.DRAINING, why, out);
      startDone(atStart ? why : null, out);
      workerGone(e.now(), out);
    } else if (e instanceof Yield y) {
      // Serve what waited for this worker first, then give the GPU back.
      downAfterLoad = "yielded the GPU: " + y.why();
      downAfterLoadReason = "yielded";
      downAfterLoadWithinMs = Math.min(settings.drainTimeoutMs(), y.remainingMs());
    }
  }

  private void serving(Event e, List<Action> out) {
    if (e instanceof Idle i) {
      down(e.now(), i.why(), "idle", settings.drainTimeoutMs(), Then.IDLE, out);
    } else if (e instanceof Yield y) {
      down(e.now(), "yielded the GPU: " + y.why(), "yielded", Math.min(settings.drainTimeoutMs(), y.remainingMs()),
          Then.IDLE, out);
    } else if (e instanceof WorkerGone g && g.gen() == gen) {
      workerUp = false;
      String why = "the worker exited with code " + g.code() + " while serving";
      out.add(new Detach());
      out.add(new FailSent(new HttpError(ErrorCode.WORKER_FAILED, why + "; retry")));
      downWhy = why;
      releaseReason = "worker exited";
      then = Then.IDLE;
      enter(Phase.DRAINING, why, out);
      workerGone(e.now(), out);
    } else if (e instanceof WorkerHung h && h.gen() == gen) {
      String why = "the worker stopped answering (" + h.why() + ")";
      out.add(new Detach());
      out.add(new FailSent(new HttpError(503, ErrorCode.WORKER_FAILED, why + "; it is replaced, retry", null, 1)));
      out.add(new KillWorker(gen));
      workerStopping = true;
      downWhy = why;
      releaseReason = "worker hung";
      then = Then.IDLE;
      enter(Phase.DRAINING, why, out);
    }
  }

  private void goingDown(Event e, List<Action> out) {
    if ((e instanceof SentAnswered || e instanceof DrainTimedOut) && drainingSent) {
      drainingSent = false;
      stopWorker(Math.max(1, (drainDeadline - e.now()) / 1_000_000), out);
    } else if (e instanceof WorkerGone g && g.gen() == gen) {
      workerUp = false;
      out.add(new RequeueSent());
      workerGone(e.now(), out);
    } else if (e instanceof WorkerHung h && h.gen() == gen && workerUp) {
      out.add(new KillWorker(gen));
    } else if (e instanceof WorkerFailed f && f.gen() == gen && workerUp) {
      out.add(new KillWorker(gen));
    } else if (e instanceof Granted) {
      // A grant for an acquire the shutdown or a release overtook: nobody will use it.
      acquiring = false;
      leaseHeld = true;
      workerGone(e.now(), out);
    } else if (e instanceof Refused) {
      acquiring = false;
      workerGone(e.now(), out);
    }
  }

  /** Stops serving: the images in hand finish (within {@code withinMs}), the worker stops, the lease goes back. */
  private void down(long now, String why, String reason, long withinMs, Then next, List<Action> out) {
    downWhy = why;
    releaseReason = reason;
    then = next;
    enter(Phase.DRAINING, why, out);
    if (!workerUp) {
      workerGone(now, out);
    } else if (workerReady && !workerStopping) {
      out.add(new Detach());
      drainingSent = true;
      drainDeadline = now + withinMs * 1_000_000L;
      out.add(new AwaitSentAnswered(withinMs));
    } else if (!workerStopping) {
      out.add(new KillWorker(gen)); // still loading: nothing to finish
      workerStopping = true;
    }
  }

  private void stopWorker(long withinMs, List<Action> out) {
    workerStopping = true;
    out.add(new StopWorker(gen, withinMs));
  }

  /** The worker is gone: release the lease (when held), or go on at once. */
  private void workerGone(long now, List<Action> out) {
    if (workerUp || acquiring) {
      return; // an acquire in flight is released when it comes
    }
    if (leaseHeld) {
      if (!releasing) {
        releasing = true;
        out.add(new Release(releaseReason));
      }
      return;
    }
    afterReleased(now, out);
  }

  private void afterReleased(long now, List<Action> out) {
    if (workerUp || acquiring || leaseHeld) {
      return;
    }
    if (shutdownAsked) {
      shutdownAsked = false;
      if (phase != Phase.SHUTTING_DOWN) {
        enter(Phase.SHUTTING_DOWN, downWhy == null ? "shutting down" : downWhy, out);
      }
      answerReleaseCallers(out);
      out.add(new ShutdownDone());
      return;
    }
    if (then == Then.LOST) {
      then = Then.IDLE;
      switch (settings.onLeaseLost()) {
        case IDLE -> enter(Phase.IDLE, lostWhy, out);
        case CPU -> launch(Placement.CPU, lostWhy + "; scoring on CPU without a lease", out);
        case EXIT -> {
          enter(Phase.SHUTTING_DOWN, lostWhy + "; exiting with 3", out);
          out.add(new Exit(3));
        }
      }
    } else {
      enter(Phase.IDLE, downWhy == null ? "idle" : downWhy, out);
    }
    answerReleaseCallers(out); // the GPU is back: whatever comes next, a waiting /release is done
  }

  private void reachedIdle(String why, List<Action> out) {
    enter(Phase.IDLE, why, out);
    answerReleaseCallers(out);
  }

  private void answerReleaseCallers(List<Action> out) {
    while (releaseCallers > 0) {
      releaseCallers--;
      out.add(new ReleaseDone());
    }
  }

  private void releaseAsked(ReleaseAsked r, List<Action> out) {
    switch (phase) {
      case STARTING, IDLE -> out.add(new ReleaseDone());
      case ACQUIRING -> {
        releaseCallers++;
        downAfterLoad = r.why();
        downAfterLoadReason = "released";
      }
      case LOADING -> {
        releaseCallers++;
        downAfterLoad = r.why();
        downAfterLoadReason = "released";
        downAfterLoadWithinMs = settings.drainTimeoutMs();
      }
      case SERVING -> {
        releaseCallers++;
        down(r.now(), r.why(), "released", settings.drainTimeoutMs(), Then.IDLE, out);
      }
      case DRAINING, LEASE_LOST -> releaseCallers++;
      case SHUTTING_DOWN -> out.add(new ReleaseDone());
    }
  }

  /**
   * Revoked or lost: no model call starts any more, the calls running finish within the holder's
   * own deadline (the worker is killed if they do not), and only once the worker is gone is the
   * lease released, which confirms a revocation.
   */
  private void leaseLost(LeaseLost l, List<Action> out) {
    if (!leaseHeld || releasing) {
      return;
    }
    lostWhy = "the GPU lease was " + (l.loss().revoked() ? "revoked" : "lost") + " (" + l.loss().message() + ")";
    releaseReason = null;
    downAfterLoad = null;
    if (phase != Phase.SHUTTING_DOWN) {
      then = Then.LOST;
      downWhy = lostWhy;
      enter(Phase.LEASE_LOST, lostWhy, out);
      if (settings.onLeaseLost() == OnLeaseLost.EXIT) {
        out.add(new FailPending(new HttpError(503, ErrorCode.LEASE_LOST, lostWhy + "; the " + settings.name() + " is exiting")));
      }
    }
    if (!workerUp) {
      workerGone(l.now(), out);
      return;
    }
    if (workerReady) {
      out.add(new Detach());
      drainingSent = false;
      stopWorker(Math.max(1, l.remainingMs()), out);
    } else {
      out.add(new KillWorker(gen));
      workerStopping = true;
    }
  }

  private void shutdown(ShutdownAsked s, List<Action> out) {
    if (shutdownAsked) {
      return;
    }
    if (phase == Phase.SHUTTING_DOWN && !workerUp && !leaseHeld && !acquiring) {
      out.add(new ShutdownDone()); // already down (on_lease_lost: exit)
      return;
    }
    shutdownAsked = true;
    downWhy = s.why();
    releaseReason = "shutdown";
    boolean serving = phase == Phase.SERVING;
    if (!serving) {
      // No worker to finish the waiting images in time: they end now.
      out.add(new FailPending(new HttpError(ErrorCode.SHUTTING_DOWN, "the " + settings.name() + " is shutting down")));
    }
    enter(Phase.SHUTTING_DOWN, s.why(), out);
    if (!serving) {
      goDownNow(s.now(), out);
    } else if (inflightDrained) {
      goDownNow(s.now(), out);
    }
    // Serving: the requests in flight finish first (InflightDrained), then the worker stops.
  }

  private void goDownNow(long now, List<Action> out) {
    if (workerUp && !workerStopping) {
      out.add(new Detach());
      if (workerReady) {
        stopWorker(settings.drainTimeoutMs(), out);
      } else {
        out.add(new KillWorker(gen));
        workerStopping = true;
      }
      return;
    }
    workerGone(now, out);
  }

  private void startDone(String failure, List<Action> out) {
    if (atStart) {
      atStart = false;
      out.add(new StartDone(failure));
    }
  }

  private void enter(Phase p, String why, List<Action> out) {
    phase = p;
    out.add(new Enter(p, why));
  }
}
