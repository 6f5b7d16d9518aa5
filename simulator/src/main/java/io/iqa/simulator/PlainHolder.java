package io.iqa.simulator;

/**
 * A program that holds its GPU through the lease client itself (a host application): it asks,
 * uses the GPU for a while, stops and closes. On a loss it stops GPU work (taking a moment, never
 * past its own deadline), then closes, which confirms a revocation; asked to yield, it finishes and
 * closes with {@code yielded}.
 */
final class PlainHolder extends Program {

  private final long ttlMs;
  private final boolean yieldable;
  private boolean using;
  private int round;

  PlainHolder(World w, String name) {
    super(w, name);
    this.ttlMs = 2000 + sim.pick(4000);
    this.yieldable = sim.chance(0.3);
  }

  @Override
  void begin() {
    after(sim.ms(0, 2000), this::next);
  }

  private void next() {
    int mine = ++round;
    lease.acquire(ask(ttlMs, yieldable), identity(), held -> {
      if (held == null) {
        after(sim.ms(50, 1500), this::next);
        return;
      }
      if (!lease.valid()) {
        lease.close(null);
        after(sim.ms(50, 500), this::next);
        return;
      }
      using = true;
      w.ledger.startUse(name, "gpu work", held.leaseId(), held.gpu());
      long stopDelay = sim.ms(0, 200);
      lease.onLost(loss -> after(Math.min(stopDelay, lease.remainingNanos()), () -> done(mine, null)));
      lease.onYield(why -> after(sim.ms(0, 500), () -> done(mine, "yielded")));
      // Mostly short jobs; now and then one that holds past stale_max_age_s.
      long hold = sim.chance(0.2) ? sim.ms(5000, 15000) : sim.ms(100, 3000);
      after(hold, () -> done(mine, null));
    });
  }

  private void done(int which, String reason) {
    if (which != round || !using) {
      return;
    }
    using = false;
    w.ledger.endUse(name, "gpu work");
    lease.close(reason);
    after(sim.ms(50, 2000), this::next);
  }

  @Override
  void onKilled() {
    if (using) {
      using = false;
      w.ledger.endUse(name, "gpu work");
    }
  }
}
