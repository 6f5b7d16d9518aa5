package io.iqa.simulator;

import io.iqa.client.HeldProcessRules;
import java.util.ArrayList;
import java.util.List;

/**
 * A command held under a lease, with the real {@link HeldProcessRules}: {@code iqa gpu run -- CMD}
 * (CMD may leave a server in the background or start a child that calls setsid: its family) or the
 * client's container fallback (the container is the engine's, outside the client's process group:
 * only {@code docker kill} stops it, and the run has a timeout). Every process of the family uses
 * the leased GPU from its start to its exit; some ignore SIGTERM.
 */
final class CommandHolder extends Program {

  /** One process of the command's family. */
  private final class Proc {
    final String label;
    final boolean ignoresTerm;
    final long termTakes;
    boolean alive = true;
    boolean dying;
    boolean killed;

    Proc(String label) {
      this.label = label;
      this.ignoresTerm = sim.chance(0.1);
      this.termTakes = sim.ms(0, 800);
    }

    void exit() {
      if (alive) {
        alive = false;
        w.ledger.endUse(name, label);
      }
    }

    void signal(String sig, int run) {
      if (!alive || killed) {
        return;
      }
      if (sig.equals("KILL")) {
        killed = true; // SIGKILL does not wait for a clean-up SIGTERM started
        after(sim.ms(1, 20), () -> { if (run == round) exit(); });
      } else if (!ignoresTerm && !dying) {
        dying = true;
        after(termTakes, () -> { if (run == round) exit(); });
      }
    }
  }

  private final boolean container;
  private final long ttlMs;
  private final boolean yieldable;
  private HeldProcessRules rules;
  private final List<Proc> family = new ArrayList<>();
  private Proc main;
  private Proc engineContainer;
  private boolean mainReported;
  private boolean watching;
  private int round;
  private SimLeaseClient.Held held;

  CommandHolder(World w, String name, boolean container) {
    super(w, name);
    this.container = container;
    this.ttlMs = 2000 + sim.pick(4000);
    this.yieldable = !container && sim.chance(0.3);
  }

  @Override
  void begin() {
    after(sim.ms(0, 2000), this::next);
  }

  private void next() {
    int run = ++round;
    SimWire.Ask a = ask(ttlMs, yieldable);
    if (container) {
      a = new SimWire.Ask(a.owner(), a.ttlMs(), Math.min(a.waitMs(), 3000), false, a.priority(), a.pid());
    }
    lease.acquire(a, identity(), held -> {
      if (run != round) {
        return;
      }
      if (held == null) {
        after(sim.ms(100, 2000), this::next); // a fallback without a lease runs on CPU: no GPU use
        return;
      }
      start(run, held);
    });
  }

  private void start(int run, SimLeaseClient.Held held) {
    rules = new HeldProcessRules(sim.ms(1000, 3000));
    family.clear();
    mainReported = false;
    watching = false;
    this.held = held;
    lease.onDeadline(stopBy -> feed(run, new HeldProcessRules.Deadline(sim.now(), stopBy)));
    feed(run, new HeldProcessRules.Deadline(sim.now(), lease.stopBy()));
    feed(run, new HeldProcessRules.Launch(sim.now()));
  }

  /** The rules said Spawn: CMD starts, and with it what it starts. */
  private void spawnMain(int run, SimLeaseClient.Held held) {
    main = spawn("cmd#" + run, held);
    feed(run, new HeldProcessRules.Started(sim.now(), 1));
    long mainRuns = sim.ms(200, 6000);
    after(mainRuns, () -> {
      if (run == round && main.alive && !main.dying) {
        main.exit();
      }
    });
    if (container) {
      // The engine starts the container: a process of its own, outside the client's group.
      after(sim.ms(10, 100), () -> {
        if (run == round && main.alive) {
          engineContainer = spawn("container#" + run, held);
          after(mainRuns, () -> { if (run == round) engineContainer.exit(); });
        }
      });
      after(sim.ms(2000, 8000), () -> feed(run, new HeldProcessRules.Stop(sim.now(), HeldProcessRules.Cause.TIMEOUT,
          "past its timeout")));
    } else if (sim.chance(0.45)) {
      // A server left in the background, or a child that left the group with setsid: it outlives CMD.
      after(sim.ms(0, 300), () -> {
        if (run == round && main.alive) {
          Proc child = spawn((sim.chance(0.4) ? "setsid-child#" : "background#") + run, held);
          after(mainRuns + sim.ms(0, 4000), () -> { if (run == round) child.exit(); });
        }
      });
    }
    lease.onLost(loss -> feed(run, new HeldProcessRules.Stop(sim.now(), HeldProcessRules.Cause.LOST, loss.reason().wireName())));
    if (yieldable) {
      lease.onYield(why -> feed(run, new HeldProcessRules.Stop(sim.now(), HeldProcessRules.Cause.YIELD, why)));
    }
    watchLoop(run);
  }

  private Proc spawn(String label, SimLeaseClient.Held held) {
    Proc p = new Proc(label);
    family.add(p);
    w.ledger.startUse(name, label, held.leaseId(), held.gpu());
    return p;
  }

  /** What the edge sees for itself every 200 ms: CMD's exit, the whole family gone. */
  private void watchLoop(int run) {
    after(Sim.millis(200), () -> {
      if (run != round || rules.phase() == HeldProcessRules.Phase.DONE) {
        return;
      }
      if (!mainReported && !main.alive) {
        mainReported = true;
        feed(run, new HeldProcessRules.MainExited(sim.now(), 0));
      }
      if (watching && family.stream().noneMatch(p -> p.alive)) {
        feed(run, new HeldProcessRules.FamilyGone(sim.now()));
      }
      watchLoop(run);
    });
  }

  private void feed(int run, HeldProcessRules.Event e) {
    if (run != round || rules == null) {
      return;
    }
    for (HeldProcessRules.Action a : rules.handle(e)) {
      if (a instanceof HeldProcessRules.Signal s) {
        if (!s.again()) {
          sim.log(name, "SIG" + s.signal() + " to its family: " + s.why());
        }
        // The process group, every process carrying the run's id, and the container by docker kill.
        for (Proc p : List.copyOf(family)) {
          p.signal(s.signal(), run);
        }
      } else if (a instanceof HeldProcessRules.Spawn) {
        spawnMain(run, held);
      } else if (a instanceof HeldProcessRules.WakeAt wk) {
        after(wk.at() - sim.now(), () -> feed(run, new HeldProcessRules.Tick(sim.now())));
      } else if (a instanceof HeldProcessRules.WatchFamily) {
        watching = true;
      } else if (a instanceof HeldProcessRules.Release r) {
        lease.close(r.reason());
      } else if (a instanceof HeldProcessRules.Finish f) {
        if (f.failedToStart() != null) {
          sim.log(name, "not started: " + f.failedToStart());
        }
        after(sim.ms(100, 2000), this::next);
      }
    }
  }

  @Override
  void onKilled() {
    // The parent-death signal takes CMD; a fallback's client dying sends TERM to docker, which
    // passes it on. A history kills only commands whose family goes with them (see World).
    family.forEach(Proc::exit);
  }
}
