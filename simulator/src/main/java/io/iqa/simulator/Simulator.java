package io.iqa.simulator;

import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import java.util.ArrayList;

/**
 * The deterministic simulator of the GPU lease system: each seed is one reproducible history of
 * the real lease rules (the broker's memory store and waiters, the lease client's rules, the rules
 * of a command under a lease and of the sidecar's lifecycle) on a virtual clock, with faults
 * (see {@link World}); {@link Ledger} checks what it must never break. A failure names its seed;
 * {@link #replay} runs that seed again with its whole trace.
 */
public final class Simulator {

  /** What one seed came to. */
  public record Outcome(long seed, List<String> violations, long steps, int uses) {
    public boolean ok() {
      return violations.isEmpty();
    }
  }

  /** What a run of many seeds came to: the first failing seeds, and how many ran. */
  public record Summary(long seeds, long failed, List<Outcome> failures, long steps, long uses, double seconds) {
  }

  public static final double HISTORY_S = 40;

  static {
    // The store's own log lines (restores, lost state, torn records) are part of every history here.
    ((ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger("io.iqa"))
        .setLevel(ch.qos.logback.classic.Level.OFF);
  }

  private Simulator() {
  }

  /** Runs seed {@code seed} with {@code faults} put back (or none). */
  public static Outcome run(long seed, Faults faults) {
    World w = new World(seed, faults, false);
    List<String> v = w.run(HISTORY_S);
    return new Outcome(seed, v, w.sim.steps(), w.ledger.uses());
  }

  /** Runs seed {@code seed} again, keeping its trace: what happened, line by line, then what it broke. */
  public static List<String> replay(long seed, Faults faults) {
    World w = new World(seed, faults, true);
    List<String> v = w.run(HISTORY_S);
    List<String> out = new ArrayList<>(w.sim.trace());
    out.add("--- seed " + seed + ": " + (v.isEmpty() ? "no violation" : String.join("\n", v)));
    return out;
  }

  /** Runs seeds {@code first} .. {@code first + count - 1} on {@code threads} threads. */
  public static Summary runMany(long first, long count, Faults faults, int threads, int keepFailures)
      throws Exception {
    long t0 = System.nanoTime();
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    AtomicLong next = new AtomicLong(first);
    AtomicLong failed = new AtomicLong();
    AtomicLong steps = new AtomicLong();
    AtomicLong uses = new AtomicLong();
    List<Outcome> failures = java.util.Collections.synchronizedList(new ArrayList<>());
    List<Future<?>> jobs = new ArrayList<>();
    for (int t = 0; t < threads; t++) {
      jobs.add(pool.submit(() -> {
        for (long seed = next.getAndIncrement(); seed < first + count; seed = next.getAndIncrement()) {
          Outcome o = run(seed, faults);
          steps.addAndGet(o.steps());
          uses.addAndGet(o.uses());
          if (!o.ok()) {
            failed.incrementAndGet();
            if (failures.size() < keepFailures) {
              failures.add(o);
            }
          }
        }
      }));
    }
    for (Future<?> f : jobs) {
      f.get();
    }
    pool.shutdown();
    List<Outcome> sorted = new ArrayList<>(failures);
    sorted.sort(java.util.Comparator.comparingLong(Outcome::seed));
    return new Summary(count, failed.get(), sorted, steps.get(), uses.get(), (System.nanoTime() - t0) / 1e9);
  }

  /**
   * {@code Simulator [--seeds N] [--first S] [--threads T] [--replay SEED] [--fault deadline|restore|launch]}:
   * runs many seeds and prints what failed, or replays one seed's history.
   */
  public static void main(String[] args) throws Exception {
    long seeds = 10_000;
    long first = 1;
    int threads = Runtime.getRuntime().availableProcessors();
    Long replay = null;
    Faults faults = Faults.NONE;
    try {
      for (int i = 0; i < args.length; i++) {
        String a = args[i];
        if (!List.of("--seeds", "--first", "--threads", "--replay", "--fault").contains(a)) {
          throw new IllegalArgumentException("unknown argument " + a
              + " (--seeds N, --first N, --threads N, --fault deadline|restore|launch, --replay SEED)");
        }
        String v = i + 1 < args.length ? args[++i] : null;
        if (v == null) {
          throw new IllegalArgumentException(a + " needs a value");
        }
        switch (a) {
          case "--seeds" -> seeds = positive(a, v);
          case "--first" -> first = positive(a, v);
          case "--threads" -> threads = (int) Math.min(positive(a, v), 256);
          case "--replay" -> replay = positive(a, v);
          case "--fault" -> faults = switch (v) {
            case "deadline" -> new Faults(true, false, false);
            case "restore" -> new Faults(false, true, false);
            case "launch" -> new Faults(false, false, true);
            default -> throw new IllegalArgumentException("--fault is deadline, restore or launch, not " + v);
          };
          default -> throw new IllegalStateException(a);
        }
      }
    } catch (IllegalArgumentException e) {
      System.err.println("simulate: " + io.iqa.protocol.Text.printable(e.getMessage()));
      System.exit(2);
    }
    if (replay != null) {
      List<String> trace = replay(replay, faults);
      trace.forEach(System.out::println);
      System.exit(trace.get(trace.size() - 1).endsWith("no violation") ? 0 : 1);
    }
    Summary s = runMany(first, seeds, faults, threads, 10);
    System.out.printf("%d seeds (%d..%d) in %.1f s: %.0f seeds/s, %d steps, %d GPU uses; %d failed%n", s.seeds(),
        first, first + seeds - 1, s.seconds(), s.seeds() / s.seconds(), s.steps(), s.uses(), s.failed());
    for (Outcome o : s.failures()) {
      System.out.println("seed " + o.seed() + ": " + o.violations().get(0));
    }
    System.exit(s.failed() == 0 ? 0 : 1);
  }

  private static long positive(String name, String value) {
    try {
      long n = Long.parseLong(value);
      if (n >= 1) {
        return n;
      }
    } catch (NumberFormatException e) {
      // said below
    }
    throw new IllegalArgumentException(name + " needs a whole number of at least 1, not " + value);
  }
}
