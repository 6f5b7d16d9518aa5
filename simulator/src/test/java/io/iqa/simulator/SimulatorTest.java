package io.iqa.simulator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The deterministic simulator over many seeds: no history may break safety or liveness, and with
 * each planted fault put back (a test switch) some history must. A failure prints its seed and the
 * seed's whole trace; {@code -Dsim.seed=N} replays one seed, {@code -Dsim.seeds=N} runs more.
 */
class SimulatorTest {

  private static final long SEEDS = Long.getLong("sim.seeds", 10_000);
  private static final long FIRST = Long.getLong("sim.first", 1);
  private static final int THREADS = Integer.getInteger("sim.threads", Runtime.getRuntime().availableProcessors());

  @Test
  void noHistoryBreaksSafetyOrLiveness() throws Exception {
    Long one = Long.getLong("sim.seed");
    if (one != null) {
      List<String> trace = Simulator.replay(one, Faults.NONE);
      trace.forEach(System.out::println);
      assertTrue(trace.get(trace.size() - 1).endsWith("no violation"), trace.get(trace.size() - 1));
      return;
    }
    Simulator.Summary s = Simulator.runMany(FIRST, SEEDS, Faults.NONE, THREADS, 5);
    System.out.printf("simulator: %d seeds in %.1f s (%.0f seeds/s on %d threads), %d steps, %d GPU uses, %d failed%n",
        s.seeds(), s.seconds(), s.seeds() / s.seconds(), THREADS, s.steps(), s.uses(), s.failed());
    if (s.failed() > 0) {
      Simulator.Outcome first = s.failures().get(0);
      Simulator.replay(first.seed(), Faults.NONE).forEach(System.out::println);
      fail(s.failed() + " of " + s.seeds() + " histories broke a rule; the first, seed " + first.seed()
          + " (trace above; -Dsim.seed=" + first.seed() + " replays it): " + first.violations());
    }
    assertTrue(s.uses() > s.seeds() * 5, "the histories used the GPU too little to prove anything: " + s.uses());
  }

  @Test
  void aSeedIsOneHistory() {
    assertEquals(Simulator.replay(42, Faults.NONE), Simulator.replay(42, Faults.NONE),
        "the same seed must replay the same history, line by line");
  }

  /** @return the first seed whose history breaks something with {@code faults}, and what */
  private static Simulator.Outcome firstFailing(Faults faults) throws Exception {
    Simulator.Summary s = Simulator.runMany(1, 3000, faults, THREADS, 1000);
    assertTrue(s.failed() > 0, "the simulator did not find the planted fault " + faults + " in 3000 seeds");
    Simulator.Outcome first = s.failures().get(0);
    System.out.println("planted " + faults + ": first found by seed " + first.seed() + " (" + s.failed()
        + " of 3000 seeds): " + first.violations().get(0));
    return first;
  }

  @Test
  void theOldDeadlineRuleIsFound() throws Exception {
    Simulator.Outcome o = firstFailing(new Faults(true, false, false));
    assertTrue(o.violations().stream().anyMatch(v -> v.startsWith("liveness:") && v.contains("ttl/3")),
        o.violations().toString());
  }

  @Test
  void theOldRestoreRuleIsFound() throws Exception {
    Simulator.Outcome o = firstFailing(new Faults(false, true, false));
    assertTrue(o.violations().stream().anyMatch(v -> v.startsWith("safety:")), o.violations().toString());
  }

  @Test
  void theLaunchRaceIsFound() throws Exception {
    Simulator.Outcome o = firstFailing(new Faults(false, false, true));
    assertTrue(o.violations().stream().anyMatch(v -> v.startsWith("safety:") && v.contains("worker")),
        o.violations().toString());
  }
}
