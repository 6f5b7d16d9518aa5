package io.iqa.simulator;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * What a history proves or breaks. The programs record when their processes use a GPU (under which
 * lease); the broker records when it granted each lease, when it revoked it and when it handed its
 * GPU on (the capacity freed, or, for a lease a restart forgot, the end of the recovery grace that
 * keeps anyone else off). The checks:
 * <ul>
 *   <li><b>safety</b>: no two programs use one device at once; no process uses the GPU outside the
 *       lease it runs under (before its grant, or after the broker handed that GPU on);</li>
 *   <li><b>liveness</b>: a granted holder's lease is valid for at least ttl/3 after its grant
 *       arrives (the answer's own way excepted); a device with no lease and a waiter is granted
 *       within a bound; a revoked holder that cooperates stops within its ttl plus its stop time.</li>
 * </ul>
 */
final class Ledger {

  /** A span of GPU use by one program's process under one lease. */
  record Use(String program, String what, long leaseId, int gpu, long start, long end) {
  }

  private final Sim sim;
  private final List<Use> uses = new ArrayList<>();
  private final Map<String, long[]> open = new HashMap<>();
  private final Map<String, Use> openUse = new HashMap<>();
  private final Map<Long, Long> grantedAt = new HashMap<>();
  private final Map<Long, Long> handedOnAt = new HashMap<>();
  private final Map<Long, Long> revokedAt = new HashMap<>();
  private final Map<Long, Long> ttlOf = new HashMap<>();
  private final List<String> violations = new ArrayList<>();
  private long freeSince = -1;
  private long waitingSince = -1;

  Ledger(Sim sim) {
    this.sim = sim;
  }

  // ---- the programs ----

  /** {@code program}'s process {@code what} starts using gpu {@code gpu} under {@code leaseId}. */
  void startUse(String program, String what, long leaseId, int gpu) {
    String key = program + "/" + what;
    if (openUse.containsKey(key)) {
      return;
    }
    openUse.put(key, new Use(program, what, leaseId, gpu, sim.now(), -1));
    sim.log(program, "uses gpu " + gpu + " (" + what + ", lease " + leaseId + ")");
  }

  void endUse(String program, String what) {
    Use u = openUse.remove(program + "/" + what);
    if (u != null) {
      uses.add(new Use(u.program(), u.what(), u.leaseId(), u.gpu(), u.start(), sim.now()));
      sim.log(program, "stops using gpu " + u.gpu() + " (" + what + ")");
    }
  }

  /**
   * @return whether a process still uses the GPU under {@code leaseId}: it carries the lease's id
   *     ({@code GPU_LEASE_ID}), which the broker's holder check looks for
   */
  boolean inUse(long leaseId) {
    return openUse.values().stream().anyMatch(u -> u.leaseId() == leaseId);
  }

  /**
   * A grant's answer arrived: {@code validForNanos} is how long the holder's rules say it may use
   * the GPU from now; {@code transitNanos} how long the answer took on its way.
   */
  void grantArrived(String program, long leaseId, long ttlNanos, long validForNanos, long transitNanos) {
    if (validForNanos < ttlNanos / 3 && transitNanos < ttlNanos / 3) {
      violations.add("liveness: " + program + "'s lease " + leaseId + " was valid for only " + validForNanos / 1_000_000
          + " ms when its grant arrived (ttl " + ttlNanos / 1_000_000 + " ms, the answer took " + transitNanos / 1_000_000
          + " ms): at least ttl/3 expected");
    }
  }

  // ---- the broker ----

  void granted(long leaseId, long ttlNanos) {
    grantedAt.putIfAbsent(leaseId, sim.now());
    ttlOf.put(leaseId, ttlNanos);
  }

  void revoked(long leaseId) {
    revokedAt.putIfAbsent(leaseId, sim.now());
  }

  /** The broker handed the lease's GPU on at {@code at} (its capacity freed, or the grace after forgetting it). */
  void handedOn(long leaseId, long at) {
    handedOnAt.merge(leaseId, at, Math::min);
  }

  /** Sampled: whether the device has no lease, and whether a waiter that could take it waits. */
  void sampleDevice(boolean free, boolean waiter, boolean grantsNow, long boundNanos) {
    long now = sim.now();
    if (!grantsNow || !free || !waiter) {
      freeSince = -1;
      waitingSince = -1;
      return;
    }
    if (freeSince < 0) {
      freeSince = now;
      waitingSince = now;
    }
    if (now - freeSince > boundNanos) {
      violations.add("liveness: the device had no lease and a waiter for " + (now - freeSince) / 1_000_000
          + " ms without a grant");
      freeSince = now; // one report per stretch
    }
  }

  // ---- the checks ----

  List<String> check() {
    long end = sim.now();
    List<Use> all = new ArrayList<>(uses);
    openUse.values().forEach(u -> all.add(new Use(u.program(), u.what(), u.leaseId(), u.gpu(), u.start(), end)));
    all.sort(Comparator.comparingLong(Use::start));
    List<String> out = new ArrayList<>(violations);
    for (int i = 0; i < all.size(); i++) {
      Use a = all.get(i);
      for (int j = i + 1; j < all.size() && all.get(j).start() < a.end(); j++) {
        Use b = all.get(j);
        if (a.gpu() == b.gpu() && !a.program().equals(b.program()) && b.start() < a.end()) {
          out.add("safety: gpu " + a.gpu() + " used at once by " + describe(a) + " and " + describe(b));
        }
      }
      Long granted = grantedAt.get(a.leaseId());
      if (granted == null || a.start() < granted) {
        out.add("safety: " + describe(a) + " used the GPU before its lease was granted");
      }
      Long handedOn = handedOnAt.get(a.leaseId());
      if (handedOn != null && a.end() > handedOn) {
        out.add("safety: " + describe(a) + " used the GPU " + (a.end() - handedOn) / 1_000_000
            + " ms after the broker handed it on");
      }
      Long revoked = revokedAt.get(a.leaseId());
      Long ttl = ttlOf.get(a.leaseId());
      if (revoked != null && ttl != null && a.end() > revoked + ttl + Sim.s(12)) {
        out.add("liveness: " + describe(a) + " went on " + (a.end() - revoked) / 1_000_000
            + " ms after its lease was revoked");
      }
    }
    return out;
  }

  private static String describe(Use u) {
    return u.program() + "'s " + u.what() + " (lease " + u.leaseId() + ", " + String.format("%.3f-%.3f s",
        u.start() / 1e9, u.end() / 1e9) + ")";
  }

  int uses() {
    return uses.size() + openUse.size();
  }
}
