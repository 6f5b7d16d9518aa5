package io.iqa.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.client.HeldProcessRules.Action;
import io.iqa.client.HeldProcessRules.Cause;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The rules of a command held under a lease, event by event. */
class HeldProcessRulesTest {

  private static final long S = 1_000_000_000L;

  private static boolean signals(List<Action> out, String sig) {
    return out.stream().anyMatch(a -> a instanceof HeldProcessRules.Signal s && s.signal().equals(sig));
  }

  private static HeldProcessRules running(long stopBy) {
    HeldProcessRules r = new HeldProcessRules(10 * S);
    r.handle(new HeldProcessRules.Started(0, 42));
    r.handle(new HeldProcessRules.Deadline(0, stopBy));
    return r;
  }

  @Test
  void aRevocationGetsTermThenKillAfterTheGraceAndReleasesOnlyOnceTheFamilyIsGone() {
    HeldProcessRules r = running(60 * S);
    assertTrue(signals(r.handle(new HeldProcessRules.Stop(S, Cause.LOST, "revoked")), "TERM"));
    assertFalse(signals(r.handle(new HeldProcessRules.Tick(5 * S)), "KILL"));
    assertTrue(signals(r.handle(new HeldProcessRules.Tick(11 * S)), "KILL"));
    List<Action> exited = r.handle(new HeldProcessRules.MainExited(12 * S, 137));
    assertFalse(exited.stream().anyMatch(a -> a instanceof HeldProcessRules.Release), "a child may still run");
    assertTrue(r.handle(new HeldProcessRules.FamilyGone(13 * S)).stream()
        .anyMatch(a -> a instanceof HeldProcessRules.Release rel && rel.reason() == null));
  }

  /** Found by the simulator: SIGTERM's grace ran past the lease's expiry while the family cleaned up. */
  @Test
  void noGraceRunsPastTheLeasesStopByTime() {
    HeldProcessRules r = running(3 * S);
    r.handle(new HeldProcessRules.Stop(S, Cause.TIMEOUT, "past its timeout"));
    assertTrue(signals(r.handle(new HeldProcessRules.Tick(3 * S)), "KILL"), "killed at the stop-by time, not after 10 s");
    HeldProcessRules atDeadline = running(3 * S);
    List<Action> lost = atDeadline.handle(new HeldProcessRules.Stop(3 * S, Cause.LOST, "deadline"));
    assertTrue(signals(lost, "KILL") && !signals(lost, "TERM"), "a loss at the deadline kills at once: " + lost);
  }

  @Test
  void aCommandThatExitsLeavingAChildKeepsTheLeaseUntilTheChildIsGone() {
    HeldProcessRules r = running(60 * S);
    r.handle(new HeldProcessRules.MainExited(S, 0));
    assertEquals(HeldProcessRules.Phase.LINGERING, r.phase());
    assertTrue(signals(r.handle(new HeldProcessRules.Stop(2 * S, Cause.YIELD, "asked")), "TERM"),
        "a yield request reaches what it left running");
    List<Action> gone = r.handle(new HeldProcessRules.FamilyGone(3 * S));
    assertTrue(gone.stream().anyMatch(a -> a instanceof HeldProcessRules.Release rel && "yielded".equals(rel.reason())));
  }

  @Test
  void aStopBeforeTheStartIsCarriedOutOnceStartedAndAFailedStartReleases() {
    HeldProcessRules r = new HeldProcessRules(10 * S);
    assertTrue(r.handle(new HeldProcessRules.Stop(0, Cause.SIGNAL, "SIGTERM")).isEmpty());
    assertTrue(signals(r.handle(new HeldProcessRules.Started(1, 42)), "TERM"));
    HeldProcessRules failed = new HeldProcessRules(10 * S);
    assertTrue(failed.handle(new HeldProcessRules.StartFailed(0, "no such file")).stream()
        .anyMatch(a -> a instanceof HeldProcessRules.Release));
  }

  /** Found by the simulator (seed 55215 of 100,000): a grant whose answer came back after its time was up. */
  @Test
  void aLeaseWhoseStopByTimeHasPassedStartsNothingAndIsReleased() {
    HeldProcessRules late = new HeldProcessRules(10 * S);
    late.handle(new HeldProcessRules.Deadline(5 * S, 4 * S));
    List<Action> out = late.handle(new HeldProcessRules.Launch(5 * S));
    assertFalse(out.stream().anyMatch(a -> a instanceof HeldProcessRules.Spawn), "nothing may start: " + out);
    assertTrue(out.stream().anyMatch(a -> a instanceof HeldProcessRules.Release));
    assertTrue(out.stream().anyMatch(a -> a instanceof HeldProcessRules.Finish f && f.failedToStart() != null
        && f.stoppedBy() == Cause.LOST));
    assertEquals(HeldProcessRules.Phase.DONE, late.phase());
    HeldProcessRules inTime = new HeldProcessRules(10 * S);
    inTime.handle(new HeldProcessRules.Deadline(0, 4 * S));
    assertTrue(inTime.handle(new HeldProcessRules.Launch(S)).stream().anyMatch(a -> a instanceof HeldProcessRules.Spawn));
    assertTrue(inTime.handle(new HeldProcessRules.Launch(2 * S)).isEmpty(), "launched once");
  }

  /** Found by the simulator: a child that left the group just as the one KILL came ran on past the expiry. */
  @Test
  void theKillIsSentAgainUntilTheWholeFamilyIsGone() {
    HeldProcessRules r = running(3 * S);
    List<Action> first = r.handle(new HeldProcessRules.Stop(3 * S, Cause.LOST, "deadline"));
    assertTrue(signals(first, "KILL"));
    long wake = first.stream().filter(a -> a instanceof HeldProcessRules.WakeAt).mapToLong(a -> ((HeldProcessRules.WakeAt) a).at())
        .min().orElseThrow();
    assertEquals(3 * S + HeldProcessRules.KILL_REPEAT_NANOS, wake);
    assertTrue(r.handle(new HeldProcessRules.Tick(3 * S + 10)).isEmpty(), "an early wake-up is no repeat");
    List<Action> again = r.handle(new HeldProcessRules.Tick(wake));
    assertTrue(again.stream().anyMatch(a -> a instanceof HeldProcessRules.Signal s && s.signal().equals("KILL") && s.again()));
    r.handle(new HeldProcessRules.MainExited(wake + 1, 137));
    assertTrue(r.handle(new HeldProcessRules.FamilyGone(wake + 2)).stream()
        .anyMatch(a -> a instanceof HeldProcessRules.Release));
    assertTrue(r.handle(new HeldProcessRules.Tick(wake + 3 * HeldProcessRules.KILL_REPEAT_NANOS)).isEmpty(),
        "no KILL once the family is gone");
  }
}
