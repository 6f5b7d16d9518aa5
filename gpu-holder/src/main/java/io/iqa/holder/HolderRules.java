package io.iqa.holder;

import io.iqa.protocol.wire.ErrorCode;
import io.iqa.server.HttpError;
import io.iqa.holder.HolderAction.*;
import io.iqa.holder.HolderEvent.*;
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
 *            WorkerGone (crash)  -> DRAINING   Detach, SentGone(worker_failed), Release
 *            WorkerHung          -> DRAINING   Detach, Kill, SentGone(worker_failed)
 *            ShutdownAsked       -> SHUTTING_DOWN  (in-flight requests finish first, then as below)
 * DRAINING   SentAnswered, DrainTimedOut         Stop(gen, what is left of the bound)
 *            WorkerGone                          SentGone(retry), Release  (the unstarted images wait for the next worker)
 *            LeaseLost           -> LEASE_LOST   Stop(gen, the holder's time left): sooner, never later
 * any        LeaseReleased       -> IDLE, or LEASE_LOST's on_lease_lost (idle, a CPU worker, exit 3), or done
 * any        Deadline            SendDeadline(gen) to a worker under the lease: it stops by it on its own clock
 * </pre>
 * Every worker that was launched (or asked to launch) ends with exactly one {@code WorkerGone}; the
 * lease is released only after it.
 */
public final class HolderRules extends HolderWayDown {

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

  public HolderRules(Settings settings) {
    super(settings);
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

  public List<HolderAction> handle(HolderEvent e) {
    List<HolderAction> out = new ArrayList<>();
    if (e instanceof Deadline d) {
      stopByNanos = d.stopByNanos();
      if (workerUp && placement == Placement.LEASED_GPU) {
        out.add(new SendDeadline(gen, d.stopByNanos()));
      }
    } else if (e instanceof LeaseReleased) {
      releasing = false;
      leaseHeld = false;
      afterReleased(e.now(), out);
    } else if (e instanceof ShutdownAsked s) {
      shutdown(s, out);
    } else if (e instanceof InflightDrained d) {
      inflightDrained = true;
      if (shutdownAsked) {
        goDownNow(d.now(), out);
      }
    } else if (e instanceof ReleaseAsked r) {
      releaseAsked(r, out);
    } else if (e instanceof LeaseLost l) {
      leaseLost(l, out);
    } else {
      switch (phase) {
        case STARTING, IDLE -> idle(e, out);
        case ACQUIRING -> acquiring(e, out);
        case LOADING -> loading(e, out);
        case SERVING -> serving(e, out);
        case DRAINING, LEASE_LOST, SHUTTING_DOWN -> goingDown(e, out);
      }
    }
    return out;
  }

  private void idle(HolderEvent e, List<HolderAction> out) {
    if (e instanceof StartIdle) {
      atStart = true;
      enter(Phase.IDLE, "no GPU lease until a request comes", out);
      startDone(null, out);
    } else if (e instanceof Start || e instanceof Demand) {
      atStart = e instanceof Start;
      bringUp(out);
    }
  }

  private void bringUp(List<HolderAction> out) {
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

  private void acquiring(HolderEvent e, List<HolderAction> out) {
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

  private void loading(HolderEvent e, List<HolderAction> out) {
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

  private void serving(HolderEvent e, List<HolderAction> out) {
    if (e instanceof Idle i) {
      down(e.now(), i.why(), "idle", settings.drainTimeoutMs(), Then.IDLE, out);
    } else if (e instanceof Yield y) {
      down(e.now(), "yielded the GPU: " + y.why(), "yielded", Math.min(settings.drainTimeoutMs(), y.remainingMs()),
          Then.IDLE, out);
    } else if (e instanceof WorkerGone g && g.gen() == gen) {
      workerUp = false;
      String why = "the worker exited with code " + g.code() + " while serving";
      out.add(new Detach());
      out.add(new SentGone(new HttpError(ErrorCode.WORKER_FAILED, why + "; retry"), false));
      downWhy = why;
      releaseReason = "worker exited";
      then = Then.IDLE;
      enter(Phase.DRAINING, why, out);
      workerGone(e.now(), out);
    } else if (e instanceof WorkerHung h && h.gen() == gen) {
      String why = "the worker stopped answering (" + h.why() + ")";
      out.add(new Detach());
      out.add(new SentGone(new HttpError(503, ErrorCode.WORKER_FAILED, why + "; it is replaced, retry", null, 1),
          false));
      out.add(new KillWorker(gen));
      workerStopping = true;
      downWhy = why;
      releaseReason = "worker hung";
      then = Then.IDLE;
      enter(Phase.DRAINING, why, out);
    }
  }

}
