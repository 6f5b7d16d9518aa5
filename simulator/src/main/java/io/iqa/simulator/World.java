package io.iqa.simulator;

import io.iqa.broker.store.RestoreRule;
import io.iqa.broker.store.StoreSettings;
import java.util.ArrayList;
import java.util.List;

/**
 * One simulated history: a broker, a few programs of every kind on one GPU, and the faults of the
 * seed: messages delayed, lost and reordered, partitions, broker crashes and restarts (its state file
 * kept, torn, lost, or the disk full), wall-clock steps of either sign, programs killed, the
 * sidecar's front paused, its workers failing to launch, failing to load, crashing, hanging.
 */
final class World {

  final Sim sim;
  final Faults faults;
  final Net net;
  final Ledger ledger;
  final Processes processes = new Processes();
  final SimBroker broker;
  final List<Program> programs = new ArrayList<>();

  /** The old restore rule, put back by a test switch: trust the wall-clock expiry in the state file. */
  static final RestoreRule TRUST_WALL_CLOCK = (ttlMs, writtenExpiresWallMs, wallNowMs) ->
      writtenExpiresWallMs == null ? ttlMs : writtenExpiresWallMs - wallNowMs;

  World(long seed, Faults faults, boolean verbose) {
    this.sim = new Sim(seed, verbose);
    this.faults = faults;
    this.net = new Net(sim, 0.01, 0.02);
    this.ledger = new Ledger(sim);
    long maxTtlMs = 6000;
    StoreSettings settings = new StoreSettings(sim.ms(4000, 15000) / 1_000_000, 1000, 200, 3_600_000, 10_000,
        maxTtlMs, false, null, false);
    this.broker = new SimBroker(sim, net, ledger, processes, settings,
        faults.oldRestoreRule() ? TRUST_WALL_CLOCK : RestoreRule.FULL_TTL, sim.ms(200, 1000));
  }

  /** Runs the history for {@code seconds} of virtual time. @return what it broke */
  List<String> run(double seconds) {
    broker.start();
    int n = 3 + sim.pick(3);
    for (int i = 0; i < n; i++) {
      int kind = sim.pick(4);
      Program p = switch (kind) {
        case 0 -> new PlainHolder(this, "plain" + i);
        case 1 -> new CommandHolder(this, "gpu-run" + i, false);
        case 2 -> new CommandHolder(this, "fallback" + i, true);
        default -> new SidecarHolder(this, "sidecar" + i);
      };
      programs.add(p);
      p.begin();
    }
    long end = Sim.s(seconds);
    // The seed's faults, each at its own time.
    int crashes = sim.pick(3);
    for (int i = 0; i < crashes; i++) {
      sim.at(sim.ms(1000, seconds * 900), this::crashBroker);
    }
    int steps = sim.pick(3);
    for (int i = 0; i < steps; i++) {
      long step = (sim.chance(0.5) ? 1 : -1) * Sim.s(600);
      sim.at(sim.ms(500, seconds * 900), () -> broker.stepWallClock(step));
    }
    for (Program p : programs) {
      if (sim.chance(0.3)) {
        sim.at(sim.ms(500, seconds * 900), () -> {
          long cut = sim.ms(500, 8000);
          sim.log(p.name, "cut off for " + cut / 1_000_000 + " ms");
          p.cutUntil = sim.now() + cut;
        });
      }
      if (p instanceof SidecarHolder s && sim.chance(0.4)) {
        sim.at(sim.ms(500, seconds * 900), () -> s.pause(sim.ms(1000, 8000)));
      }
      if (p.killable && sim.chance(0.1)) {
        sim.at(sim.ms(2000, seconds * 1000), () -> {
          if (p.up) {
            p.kill();
          }
        });
      }
      if (sim.chance(0.15)) {
        sim.at(sim.ms(1000, seconds * 1000), () -> {
          sim.log("ops", "force-releases " + p.name + "'s leases");
          broker.forceRelease(p.name);
        });
      }
    }
    if (sim.chance(0.1)) {
      sim.at(sim.ms(1000, seconds * 900), () -> {
        sim.log("broker", "disk full for a while");
        broker.file.fillFor(sim.ms(200, 3000));
      });
    }
    sim.runUntil(end);
    return ledger.check();
  }

  private void crashBroker() {
    if (!broker.host.up) {
      return;
    }
    broker.crash();
    double r = sim.rnd.nextDouble();
    if (r < 0.15) {
      sim.log("broker", "state file: a write torn by the crash");
      broker.file.tornWrite();
    } else if (r < 0.2) {
      sim.log("broker", "state file: lost (power loss before it reached the disk)");
      broker.file.lose(true);
    } else if (r < 0.25) {
      sim.log("broker", "state file: its snapshot torn");
      broker.file.lose(false);
    }
    sim.after(sim.ms(300, 3000), broker::restart);
  }
}
