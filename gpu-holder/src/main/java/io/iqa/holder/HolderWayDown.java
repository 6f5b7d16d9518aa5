package io.iqa.holder;

import io.iqa.holder.HolderAction.*;
import io.iqa.holder.HolderEvent.*;
import io.iqa.holder.HolderRules.Phase;
import io.iqa.holder.HolderRules.Placement;
import io.iqa.holder.HolderRules.Settings;
import io.iqa.protocol.wire.ErrorCode;
import io.iqa.server.HttpError;
import java.util.List;

/**
 * The state of {@link HolderRules} and the way down: drain what the worker holds, stop it, release
 * the lease, then idle, the on_lease_lost choice or exit; a /release, a lost lease and a shutdown
 * take this way from any phase. {@link HolderRules} is the way up (acquire, load, serve) and the
 * dispatch of every event.
 */
abstract class HolderWayDown {

  /** What comes once the worker is gone and the lease released. */
  enum Then { IDLE, LOST }

  final Settings settings;
  Phase phase = Phase.STARTING;
  int gen;
  /** The current worker was launched (or asked to) and is not gone yet. */
  boolean workerUp;
  boolean workerReady;
  boolean workerStopping;
  Placement placement;
  boolean leaseHeld;
  boolean acquiring;
  boolean releasing;
  boolean atStart;
  int releaseCallers;
  /** Asked while the worker loaded: done once it has served what waited for it. */
  String downAfterLoad;
  String downAfterLoadReason;
  long downAfterLoadWithinMs;
  boolean drainingSent;
  long drainDeadline;
  String downWhy;
  String releaseReason;
  Then then = Then.IDLE;
  boolean shutdownAsked;
  boolean inflightDrained;
  long stopByNanos = -1;
  String lostWhy;

  HolderWayDown(Settings settings) {
    this.settings = settings;
  }

  void launch(Placement where, String why, List<HolderAction> out) {
    gen++;
    placement = where;
    workerUp = true;
    workerReady = false;
    workerStopping = false;
    enter(Phase.LOADING, why, out);
    out.add(new Launch(gen, where, where == Placement.LEASED_GPU && stopByNanos >= 0 ? stopByNanos : null));
  }

  void goingDown(HolderEvent e, List<HolderAction> out) {
    if ((e instanceof SentAnswered || e instanceof DrainTimedOut) && drainingSent) {
      drainingSent = false;
      stopWorker(Math.max(1, (drainDeadline - e.now()) / 1_000_000), out);
    } else if (e instanceof WorkerGone g && g.gen() == gen) {
      workerUp = false;
      out.add(new SentGone(null, true));
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
  void down(long now, String why, String reason, long withinMs, Then next, List<HolderAction> out) {
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

  void stopWorker(long withinMs, List<HolderAction> out) {
    workerStopping = true;
    out.add(new StopWorker(gen, withinMs));
  }

  /** The worker is gone: release the lease (when held), or go on at once. */
  void workerGone(long now, List<HolderAction> out) {
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

  void afterReleased(long now, List<HolderAction> out) {
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

  void reachedIdle(String why, List<HolderAction> out) {
    enter(Phase.IDLE, why, out);
    answerReleaseCallers(out);
  }

  void answerReleaseCallers(List<HolderAction> out) {
    while (releaseCallers > 0) {
      releaseCallers--;
      out.add(new ReleaseDone());
    }
  }

  void releaseAsked(ReleaseAsked r, List<HolderAction> out) {
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
  void leaseLost(LeaseLost l, List<HolderAction> out) {
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

  void shutdown(ShutdownAsked s, List<HolderAction> out) {
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

  void goDownNow(long now, List<HolderAction> out) {
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

  void startDone(String failure, List<HolderAction> out) {
    if (atStart) {
      atStart = false;
      out.add(new StartDone(failure));
    }
  }

  void enter(Phase p, String why, List<HolderAction> out) {
    phase = p;
    out.add(new Enter(p, why));
  }
}
