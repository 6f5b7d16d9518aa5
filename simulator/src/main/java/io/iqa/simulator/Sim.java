package io.iqa.simulator;

import java.util.ArrayList;
import java.util.List;
import java.util.PriorityQueue;
import java.util.Random;

/**
 * The simulated world of one seed: one thread, one virtual clock (nanoseconds), one queue of what
 * happens next, one source of randomness. Every choice and every clock reading of a history comes
 * from here, so a seed replays its history exactly (FoundationDB's simulator, TigerBeetle's VOPR).
 */
final class Sim {

  private record Task(long at, long seq, Runnable run) {
  }

  final long seed;
  final Random rnd;
  final boolean verbose;
  private final PriorityQueue<Task> queue = new PriorityQueue<>((a, b) -> a.at != b.at ? Long.compare(a.at, b.at)
      : Long.compare(a.seq, b.seq));
  private final List<String> trace = new ArrayList<>();
  private long now;
  private long seq;
  private long steps;

  Sim(long seed, boolean verbose) {
    this.seed = seed;
    this.rnd = new Random(seed);
    this.verbose = verbose;
  }

  long now() {
    return now;
  }

  /** Runs {@code r} at {@code time} (never before now). */
  void at(long time, Runnable r) {
    queue.add(new Task(Math.max(time, now), seq++, r));
  }

  void after(long delayNanos, Runnable r) {
    at(now + Math.max(0, delayNanos), r);
  }

  /** Runs everything due up to {@code until}. */
  void runUntil(long until) {
    while (!queue.isEmpty() && queue.peek().at <= until) {
      Task t = queue.poll();
      now = t.at;
      steps++;
      t.run.run();
    }
    now = until;
  }

  long steps() {
    return steps;
  }

  void log(String who, String what) {
    if (verbose) {
      trace.add(String.format("%10.3f %-12s %s", now / 1e9, who, what));
    }
  }

  List<String> trace() {
    return trace;
  }

  // ---- random choices ----

  boolean chance(double p) {
    return rnd.nextDouble() < p;
  }

  /** @return a duration uniformly between {@code loMs} and {@code hiMs}, in nanoseconds */
  long ms(double loMs, double hiMs) {
    return (long) ((loMs + rnd.nextDouble() * (hiMs - loMs)) * 1_000_000);
  }

  int pick(int n) {
    return rnd.nextInt(n);
  }

  static long s(double seconds) {
    return (long) (seconds * 1e9);
  }

  static long millis(double ms) {
    return (long) (ms * 1e6);
  }
}
