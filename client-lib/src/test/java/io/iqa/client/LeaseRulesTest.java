package io.iqa.client;

import io.iqa.protocol.wire.EndReason;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.client.LeaseRules.Action;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The holder's rules, event by event on a clock the test moves (nanoseconds). */
class LeaseRulesTest {

  private static final long S = 1_000_000_000L;

  private static <T extends Action> T only(List<Action> actions, Class<T> type) {
    List<Action> of = actions.stream().filter(type::isInstance).toList();
    assertEquals(1, of.size(), "expected one " + type.getSimpleName() + " in " + actions);
    return type.cast(of.get(0));
  }

  private static boolean has(List<Action> actions, Class<? extends Action> type) {
    return actions.stream().anyMatch(type::isInstance);
  }

  @Test
  void aGrantThatWaitedCountsItsDeadlineFromTheSendTimePlusTheWaitPlusTheTtl() {
    // Sent at 0, held by the broker 25 s, ttl 30 s: the broker's expires_at is at least 55 s.
    LeaseRules r = new LeaseRules(7, 0, 25 * S, 30 * S);
    long granted = 25 * S + S / 100;
    r.start(granted);
    assertEquals(55 * S, r.deadline());
    assertTrue(r.valid(granted + 20 * S), "valid for most of its ttl after the grant");
    assertFalse(r.valid(55 * S - r.marginNanos()), "never past the deadline less the margin");
    // The first renew comes when two thirds of the ttl remain: 10 s after the grant, as for a grant that did not wait.
    List<Action> early = r.handle(new LeaseRules.Tick(granted + 9 * S));
    assertFalse(has(early, LeaseRules.SendRenew.class), early.toString());
    LeaseRules.SendRenew renew = only(r.handle(new LeaseRules.Tick(35 * S)), LeaseRules.SendRenew.class);
    assertEquals(35 * S, renew.sentAt());
  }

  /** Round 3 (CI): the loss of a grant that came after its deadline waited for the first timer, so loss() was null. */
  @Test
  void aGrantWhoseAnswerCameAfterItsDeadlineIsLostAtTheStart() {
    LeaseRules r = new LeaseRules(3, 0, 0, S);
    List<Action> first = r.start(3 * S / 2);
    assertEquals(EndReason.DEADLINE, only(first, LeaseRules.Lost.class).loss().reason());
    assertTrue(has(first, LeaseRules.CloseWatch.class), first.toString());
    assertFalse(r.valid(3 * S / 2));
  }

  @Test
  void aRenewMovesTheDeadlineToItsSendTimePlusTheTtlAndNeverBack() {
    LeaseRules r = new LeaseRules(1, 0, 0, 30 * S);
    r.start(0);
    LeaseRules.SendRenew renew = only(r.handle(new LeaseRules.Tick(10 * S)), LeaseRules.SendRenew.class);
    List<Action> ok = r.handle(new LeaseRules.RenewOk(10 * S + S / 10, renew.sentAt(), 30 * S));
    assertEquals(40 * S, only(ok, LeaseRules.Deadline.class).deadline());
    // A late answer to an older renew does not move it back.
    r.handle(new LeaseRules.RenewOk(11 * S, 2 * S, 30 * S));
    assertEquals(40 * S, r.deadline());
  }

  @Test
  void noRenewSucceedingTheLeaseIsLostAMarginBeforeTheDeadlineWhateverTheBrokerSays() {
    LeaseRules r = new LeaseRules(1, 0, 0, 30 * S);
    r.start(0);
    r.handle(new LeaseRules.Tick(10 * S));
    List<Action> failed = r.handle(new LeaseRules.RenewFailed(11 * S, "connection refused"));
    assertTrue(only(failed, LeaseRules.WakeAt.class).at() <= 12 * S, "a failed renew is retried soon: " + failed);
    List<Action> lost = r.handle(new LeaseRules.Tick(30 * S - r.marginNanos()));
    assertEquals(EndReason.DEADLINE, only(lost, LeaseRules.Lost.class).loss().reason());
    assertTrue(has(lost, LeaseRules.CloseWatch.class));
    assertEquals(LeaseRules.Phase.LOST, r.phase());
    // A renew answer arriving after the loss changes nothing; closing still tells the broker.
    assertTrue(r.handle(new LeaseRules.RenewOk(29 * S, 28 * S, 30 * S)).isEmpty());
    assertFalse(r.valid(29 * S));
    assertEquals(null, only(r.handle(new LeaseRules.Close(31 * S, null)), LeaseRules.SendRelease.class).reason());
  }

  @Test
  void aRevocationIsALossThatTheReleaseConfirmsAndAnEndNeedsNoRelease() {
    LeaseRules revoked = new LeaseRules(1, 0, 0, 30 * S);
    revoked.start(0);
    LeaseLoss loss = only(revoked.handle(new LeaseRules.Revoked(S, EndReason.FORCE_RELEASED, "ops")), LeaseRules.Lost.class)
        .loss();
    assertTrue(loss.revoked());
    assertTrue(revoked.remainingNanos(S) > 20 * S, "work in hand may still finish within the deadline");
    assertTrue(has(revoked.handle(new LeaseRules.Close(2 * S, null)), LeaseRules.SendRelease.class));

    LeaseRules ended = new LeaseRules(2, 0, 0, 30 * S);
    ended.start(0);
    ended.handle(new LeaseRules.RenewRefused(S, EndReason.EXPIRED, "lease 2 has ended: expired"));
    assertFalse(has(ended.handle(new LeaseRules.Close(2 * S, null)), LeaseRules.SendRelease.class),
        "the broker already ended it: nothing to confirm");
  }

  @Test
  void aYieldRequestIsToldOnceAndCloseReleasesWithTheReason() {
    LeaseRules r = new LeaseRules(1, 0, 0, 30 * S);
    r.start(0);
    assertEquals("llm waits", only(r.handle(new LeaseRules.YieldAsked(S, "llm waits")), LeaseRules.YieldRequested.class)
        .message());
    assertTrue(r.handle(new LeaseRules.YieldAsked(2 * S, "again")).isEmpty());
    assertTrue(r.valid(3 * S), "a yield request is no loss");
    assertEquals("yielded", only(r.handle(new LeaseRules.Close(4 * S, "yielded")), LeaseRules.SendRelease.class)
        .reason());
    assertTrue(r.handle(new LeaseRules.Close(5 * S, "again")).isEmpty(), "one release, however often closed");
    assertEquals(0, r.remainingNanos(5 * S));
  }

  @Test
  void haltSendsNothing() {
    LeaseRules r = new LeaseRules(1, 0, 0, 30 * S);
    r.start(0);
    List<Action> halted = r.handle(new LeaseRules.Halt(S));
    assertFalse(has(halted, LeaseRules.SendRelease.class));
    assertTrue(r.handle(new LeaseRules.Tick(40 * S)).isEmpty());
  }
}
