package io.iqa.simulator;

import io.iqa.protocol.wire.Priority;

/**
 * A program that wants the GPU now and then, as one simulated process (its lease client runs in
 * it). Subclasses are the kinds of holders the project has: a plain {@code LeaseClient} user, a
 * command under {@code iqa gpu run}, the client's container fallback, the sidecar.
 */
abstract class Program extends Host {

  final World w;
  final SimLeaseClient lease;
  long pid;
  /** Whether this program may be killed -9 in the history (what it started dies with it). */
  boolean killable = true;

  Program(World w, String name) {
    super(w.sim, name);
    this.w = w;
    this.pid = w.processes.spawn();
    this.lease = new SimLeaseClient(w.sim, w.net, w.broker, this, w.ledger, w.faults, name);
  }

  /** Starts the program's life. */
  abstract void begin();

  /** kill -9 of the program (and, with its parent-death signal, what it runs). */
  void kill() {
    sim.log(name, "killed (-9)");
    lease.halt();
    onKilled();
    die();
    w.processes.exit(pid);
  }

  /** What dies with the program: its GPU use ends now. */
  abstract void onKilled();

  /** A request: the ttl, a wait that is 0, short, or longer than the ttl, yield or not. */
  SimWire.Ask ask(long ttlMs, boolean yieldable) {
    double r = sim.rnd.nextDouble();
    long waitMs = r < 0.3 ? 0 : r < 0.6 ? (long) (100 + sim.rnd.nextDouble() * 2000)
        : (long) (ttlMs * (1.5 + sim.rnd.nextDouble() * 2));
    return new SimWire.Ask(name, ttlMs, waitMs, yieldable, Priority.values()[sim.pick(3)], pid);
  }

  String identity() {
    return w.processes.identity(pid);
  }
}
