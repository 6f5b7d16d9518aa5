package io.iqa.simulator;

import io.iqa.holder.HolderEvent;
import io.iqa.holder.HolderRules;

/**
 * One worker process of a {@link SidecarHolder}: launched (or not), loads its models (or not), may
 * crash or hang, and holds itself to the lease's stop-by time, killing itself a moment before it.
 */
final class SimWorker {
  private final SidecarHolder front;
  private final Sim sim;
  final String name;
  final int gen;
  final HolderRules.Placement where;
  final long leaseId;
  long stopBy;
  boolean exists;
  boolean killRequested;
  boolean hung;
  boolean stopping;
  boolean gone;
  long lastBeat;
  int running;

  SimWorker(SidecarHolder front, int gen, HolderRules.Placement where, Long stopBy) {
    this.front = front;
    this.sim = front.sim;
    this.name = front.name + "/w" + gen;
    this.gen = gen;
    this.where = where;
    this.leaseId = front.lease.leaseId();
    this.stopBy = stopBy == null ? Long.MAX_VALUE : stopBy;
  }

  void launch() {
    long starting = sim.ms(200, 1500);
    sim.after(starting, () -> {
      if (gone) {
        return; // its front died first: never forked, or killed by the parent-death signal at once
      }
      if (sim.chance(0.04)) {
        front.toFront(() -> front.fire(new HolderEvent.WorkerGone(sim.now(), gen, -1, "cannot start")));
        gone = true;
        return;
      }
      exists = true;
      lastBeat = sim.now();
      if (killRequested) {
        // Killed the moment its process exists: before INIT, so it never touches the GPU.
        dieIn(sim.ms(1, 20), 137);
        return;
      }
      if (where == HolderRules.Placement.LEASED_GPU) {
        front.w.ledger.startUse(front.name, "worker#" + gen, leaseId, 0);
      }
      beat();
      watchdog();
      sim.after(sim.ms(200, 2000), () -> {
        if (gone || hung) {
          return;
        }
        if (sim.chance(0.02)) {
          front.toFront(() -> front.fire(new HolderEvent.WorkerFailed(sim.now(), gen, "a model did not load")));
        } else {
          front.toFront(() -> front.fire(new HolderEvent.WorkerReady(sim.now(), gen, 100)));
        }
      });
      if (sim.chance(0.05)) {
        sim.after(sim.ms(500, 10_000), () -> {
          // Not while its front is paused too: with both frozen no process of the system can act
          // (a cgroup frozen whole); the worker's memory stays until one of them runs again.
          if (!gone && sim.now() >= front.pausedUntil) {
            sim.log(name, "hangs (SIGSTOP)");
            hung = true;
          }
        });
      } else if (sim.chance(0.05)) {
        sim.after(sim.ms(500, 10_000), () -> {
          if (!gone && !hung) {
            sim.log(name, "crashes");
            dieIn(0, 1);
          }
        });
      }
    });
  }

  private void beat() {
    sim.after(Sim.s(1), () -> {
      if (!gone && !hung) {
        front.toFront(() -> front.heard(gen));
        beat();
      }
    });
  }

  /** The worker's own hold on the lease: it kills itself a moment before the stop-by time. */
  private void watchdog() {
    sim.after(Sim.millis(50), () -> {
      if (gone || hung) {
        return;
      }
      if (stopBy != Long.MAX_VALUE && sim.now() > stopBy - SidecarHolder.LEAD) {
        sim.log(name, "the lease's deadline is near without word from the front: kills itself");
        dieIn(sim.ms(5, 50), 137);
        return;
      }
      watchdog();
    });
  }

  void dieIn(long nanos, int code) {
    if (gone) {
      return;
    }
    sim.after(nanos, () -> {
      if (gone) {
        return;
      }
      gone = true;
      if (exists && where == HolderRules.Placement.LEASED_GPU) {
        front.w.ledger.endUse(front.name, "worker#" + gen);
      }
      front.toFront(() -> front.fire(new HolderEvent.WorkerGone(sim.now(), gen, code, "exited " + code)));
    });
  }

  /** SIGKILL: before the process exists, the moment it does (the fixed race); after, now. */
  void kill() {
    if (gone) {
      return;
    }
    if (!exists) {
      if (front.w.faults.launchRace()) {
        // The race put back: a stop before the process exists finds nothing and reports it gone.
        sim.log(name, "(launch race) killed before it exists: reported gone, the launch goes on");
        front.toFront(() -> front.fire(new HolderEvent.WorkerGone(sim.now(), gen, 0, "not started")));
        return;
      }
      killRequested = true;
      return;
    }
    dieIn(sim.ms(1, 20), 137);
  }

  /** STOP: the images running finish, the worker exits; killed after {@code withinMs}. */
  void stop(long withinMs) {
    if (gone) {
      return;
    }
    if (!exists) {
      kill();
      return;
    }
    sim.after(withinMs * 1_000_000L, this::kill);
    if (!stopping && !hung) {
      stopping = true;
      sim.after(sim.ms(20, 300), () -> dieIn(sim.ms(20, 100), 0));
    }
  }

  void job(Runnable answered) {
    if (gone || hung || stopping || !exists) {
      return; // a hung worker answers nothing; a stopping one hands it back
    }
    running++;
    sim.after(sim.ms(20, 300), () -> {
      running--;
      if (!gone && !hung) {
        front.toFront(answered);
      }
    });
  }
}
