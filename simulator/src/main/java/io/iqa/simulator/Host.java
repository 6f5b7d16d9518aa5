package io.iqa.simulator;

/**
 * A simulated process that takes part in the network: it may be down (crashed), paused (a GC
 * pause, SIGSTOP, a blocked event loop: what it would do waits until it runs again) or cut off from
 * the others (a partition). Deliveries to it and its own timers go through {@link #run}.
 */
class Host {

  final Sim sim;
  final String name;
  /** Incremented when the process dies: what was scheduled for an earlier incarnation is dropped. */
  int epoch;
  boolean up = true;
  long pausedUntil;
  long cutUntil;

  Host(Sim sim, String name) {
    this.sim = sim;
    this.name = name;
  }

  /** Runs {@code r} in this process now, or once its pause ends; never in a later incarnation. */
  void run(Runnable r) {
    int e = epoch;
    if (sim.now() < pausedUntil) {
      // Deferred in order: everything waits for the same moment.
      sim.at(pausedUntil, () -> {
        if (up && epoch == e) {
          run(r);
        }
      });
      return;
    }
    if (up && epoch == e) {
      r.run();
    }
  }

  /** A timer of this process: {@code r} after {@code delayNanos}, if this incarnation still lives. */
  void after(long delayNanos, Runnable r) {
    int e = epoch;
    sim.after(delayNanos, () -> {
      if (up && epoch == e) {
        run(r);
      }
    });
  }

  boolean cut() {
    return sim.now() < cutUntil;
  }

  /** The process dies (kill -9): nothing it scheduled runs any more. */
  void die() {
    up = false;
    epoch++;
  }
}
