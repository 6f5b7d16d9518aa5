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
}
