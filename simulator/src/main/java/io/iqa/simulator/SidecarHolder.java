package io.iqa.simulator;

import io.iqa.holder.HolderAction;
import io.iqa.holder.HolderEvent;
import io.iqa.holder.HolderInbox;
import io.iqa.holder.GpuMode;
import io.iqa.holder.HolderRules;
import io.iqa.holder.OnLeaseLost;
import io.iqa.protocol.wire.Priority;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The sidecar in the simulation: its front runs the real {@link HolderRules} and a {@link
 * SimLeaseClient}; its workers are simulated processes (a launch that takes a while or fails, models
 * that load or do not, a crash, a hang that stops even the heartbeat, and the worker's own deadline:
 * it kills itself a moment before the lease's stop-by time when no newer one came). Images arrive
 * now and then; the idle timer, yield requests and revocations take the GPU back. The front may
 * pause (a GC pause, SIGSTOP) while its worker goes on.
 */
final class SidecarHolder extends Program {

  static final long LEAD = 250_000_000L;

  private final HolderRules rules;
  private final Map<Integer, SimWorker> workers = new HashMap<>();
  private final long idleReleaseNanos;
  private final long ttlMs;
  private final double waitS;
  private int pending;
  private final Deque<Long> sent = new ArrayDeque<>();
  private int attached = -1;
  private long lastWork;
  private final Map<Integer, Long> heard = new HashMap<>();
  private final List<Runnable> sentAnswered = new ArrayList<>();
  private final HolderInbox inbox;

  SidecarHolder(World w, String name) {
    super(w, name);
    this.ttlMs = 2000 + sim.pick(4000);
    this.waitS = sim.chance(0.5) ? 1 + sim.pick(3) : ttlMs * 2 / 1000.0;
    this.idleReleaseNanos = sim.ms(1500, 6000);
    OnLeaseLost onLost = sim.chance(0.7) ? OnLeaseLost.IDLE
        : OnLeaseLost.CPU;
    this.rules = new HolderRules(new HolderRules.Settings(GpuMode.LEASED, true, onLost, sim.ms(1000, 4000) / 1_000_000,
        waitS));
    this.inbox = new HolderInbox(rules, (e, out) -> {
      sim.log(name, e.getClass().getSimpleName() + " -> " + rules.phase());
      out.forEach(this::act);
    });
    this.killable = true;
  }

  @Override
  void begin() {
    lease.onLost(loss -> fire(new HolderEvent.LeaseLost(sim.now(), loss, lease.remainingNanos() / 1_000_000)));
    lease.onYield(why -> fire(new HolderEvent.Yield(sim.now(), why, lease.remainingNanos() / 1_000_000)));
    lease.onDeadline(stopBy -> fire(new HolderEvent.Deadline(sim.now(), stopBy)));
    fire(new HolderEvent.Start(sim.now()));
    images();
    timers();
  }

  /** Images come now and then: each a cache miss that needs the worker. */
  private void images() {
    after(sim.ms(50, 3000), () -> {
      pending++;
      lastWork = sim.now();
      pump();
      images();
    });
  }

  private void timers() {
    after(Sim.millis(250), () -> {
      if (rules.phase() == HolderRules.Phase.SERVING && pending == 0 && sent.isEmpty()
          && sim.now() - lastWork > idleReleaseNanos) {
        fire(new HolderEvent.Idle(sim.now(), "idle"));
      }
      if (rules.workerUp() && (rules.phase() == HolderRules.Phase.SERVING
          || rules.phase() == HolderRules.Phase.DRAINING)) {
        Long last = heard.get(rules.gen());
        if (last != null && sim.now() - last > Sim.s(2)) {
          fire(new HolderEvent.WorkerHung(sim.now(), rules.gen(), "no heartbeat"));
        }
      }
      timers();
    });
  }

  void heard(int gen) {
    heard.put(gen, sim.now());
  }

  /** Worker {@code gen}'s frames come over its stdout to the front (which may be paused). */
  void toFront(Runnable r) {
    sim.after(sim.ms(0.05, 1), () -> run(r));
  }

  private void pump() {
    if (attached < 0) {
      if (pending > 0) {
        fire(new HolderEvent.Demand(sim.now()));
      }
      return;
    }
    SimWorker worker = workers.get(attached);
    while (pending > 0 && worker != null) {
      pending--;
      long id = sim.now();
      sent.add(id);
      worker.job(() -> answered(id));
    }
  }

  private void answered(long id) {
    sent.remove(id);
    lastWork = sim.now();
    if (sent.isEmpty()) {
      List<Runnable> done = new ArrayList<>(sentAnswered);
      sentAnswered.clear();
      done.forEach(Runnable::run);
    }
  }

  void fire(HolderEvent e) {
    inbox.fire(e);
  }

  private void act(HolderAction a) {
    if (a instanceof HolderAction.Enter en) {
      if (en.phase() == HolderRules.Phase.IDLE && pending > 0) {
        fire(new HolderEvent.Demand(sim.now()));
      }
    } else if (a instanceof HolderAction.Acquire acq) {
      long waitMs = acq.waitS() == null ? (long) (waitS * 1000) : (long) (acq.waitS() * 1000);
      lease.acquire(new SimWire.Ask(name, ttlMs, waitMs, true, Priority.NORMAL, pid), identity(), held ->
          fire(held == null ? new HolderEvent.Refused(sim.now(), "no lease")
              : new HolderEvent.Granted(sim.now(), held.gpu(), lease.stopBy())));
    } else if (a instanceof HolderAction.Launch l) {
      SimWorker worker = new SimWorker(this, l.gen(), l.where(), l.stopByNanos());
      workers.put(l.gen(), worker);
      heard.put(l.gen(), sim.now());
      worker.launch();
    } else if (a instanceof HolderAction.Attach at) {
      attached = at.gen();
      lastWork = sim.now();
      pump();
    } else if (a instanceof HolderAction.Detach) {
      attached = -1;
    } else if (a instanceof HolderAction.AwaitSentAnswered aw) {
      boolean[] told = {false};
      Runnable tell = () -> {
        if (!told[0]) {
          told[0] = true;
          fire(new HolderEvent.SentAnswered(sim.now()));
        }
      };
      after(aw.withinMs() * 1_000_000L, () -> {
        if (!told[0]) {
          told[0] = true;
          fire(new HolderEvent.DrainTimedOut(sim.now()));
        }
      });
      if (sent.isEmpty()) {
        after(0, tell);
      } else {
        sentAnswered.add(tell);
      }
    } else if (a instanceof HolderAction.StopWorker s) {
      SimWorker worker = workers.get(s.gen());
      if (worker != null) {
        worker.stop(s.withinMs());
      }
    } else if (a instanceof HolderAction.KillWorker k) {
      SimWorker worker = workers.get(k.gen());
      if (worker != null) {
        worker.kill();
      }
    } else if (a instanceof HolderAction.FailPending) {
      pending = 0;
    } else if (a instanceof HolderAction.SentGone g) {
      pending += g.retry() ? sent.size() : 0;
      sent.clear();
    } else if (a instanceof HolderAction.Release r) {
      lease.close(r.reason());
      after(sim.ms(1, 10), () -> fire(new HolderEvent.LeaseReleased(sim.now())));
    } else if (a instanceof HolderAction.SendDeadline d) {
      SimWorker worker = workers.get(d.gen());
      if (worker != null) {
        long by = d.stopByNanos();
        sim.after(sim.ms(0.05, 1), () -> {
          if (!worker.hung) {
            worker.stopBy = by;
          }
        });
      }
    }
  }

  /** A GC pause or SIGSTOP of the front: it does nothing for a while; its worker goes on. */
  void pause(long nanos) {
    if (workers.values().stream().anyMatch(wk -> wk.hung && !wk.gone)) {
      return; // see SimWorker.launch: the system does not survive both frozen at once
    }
    sim.log(name, "front paused for " + nanos / 1_000_000 + " ms");
    pausedUntil = Math.max(pausedUntil, sim.now() + nanos);
  }

  @Override
  void onKilled() {
    // The workers have a parent-death signal: they go with the front; one not forked yet never is.
    for (SimWorker wk : workers.values()) {
      if (wk.exists) {
        wk.dieIn(sim.ms(1, 20), 137);
      } else {
        wk.gone = true;
      }
    }
  }
}
