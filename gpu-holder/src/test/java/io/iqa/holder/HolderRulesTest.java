package io.iqa.holder;

import io.iqa.protocol.wire.EndReason;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.client.LeaseLoss;
import io.iqa.holder.HolderRules.Phase;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/** The sidecar's lifecycle rules, event by event: the rows that once were races. */
class HolderRulesTest {

  private static final long S = 1_000_000_000L;

  private static HolderRules rules(OnLeaseLost onLost) {
    return new HolderRules(new HolderRules.Settings(GpuMode.LEASED, true, onLost, 30_000, 60));
  }

  private static boolean has(List<HolderAction> actions, Class<? extends HolderAction> type) {
    return actions.stream().anyMatch(type::isInstance);
  }

  private static <T extends HolderAction> T only(List<HolderAction> actions, Class<T> type) {
    List<HolderAction> of = actions.stream().filter(type::isInstance).toList();
    assertEquals(1, of.size(), "expected one " + type.getSimpleName() + " in " + actions);
    return type.cast(of.get(0));
  }

  /** A sidecar that took the lease at start and whose worker serves. */
  private static HolderRules serving(OnLeaseLost onLost) {
    HolderRules r = rules(onLost);
    r.handle(new HolderEvent.Start(0));
    r.handle(new HolderEvent.Granted(1, 0, 30 * S));
    r.handle(new HolderEvent.WorkerReady(2, 1, 100));
    assertEquals(Phase.SERVING, r.phase());
    return r;
  }

  @Test
  void theLeaseComesBeforeTheWorkerAndTheWorkerGetsTheLeasesDeadline() {
    HolderRules r = rules(OnLeaseLost.IDLE);
    assertEquals(0.0, only(r.handle(new HolderEvent.Start(0)), HolderAction.Acquire.class).waitS());
    HolderAction.Launch launch = only(r.handle(new HolderEvent.Granted(1, 0, 30 * S)), HolderAction.Launch.class);
    assertEquals(HolderRules.Placement.LEASED_GPU, launch.where());
    assertEquals(30 * S, launch.stopByNanos());
    List<HolderAction> renewed = r.handle(new HolderEvent.Deadline(10 * S, 40 * S));
    assertEquals(40 * S, only(renewed, HolderAction.SendDeadline.class).stopByNanos());
  }

  /** Found by the simulator: a grant whose answer came after its own deadline launched a worker. */
  @Test
  void aGrantThatArrivesAfterItsOwnDeadlineLaunchesNothingAndGoesBack() {
    HolderRules r = rules(OnLeaseLost.IDLE);
    r.handle(new HolderEvent.Start(0));
    List<HolderAction> late = r.handle(new HolderEvent.Granted(10 * S, 0, 9 * S));
    assertFalse(has(late, HolderAction.Launch.class), late.toString());
    assertTrue(has(late, HolderAction.Release.class), late.toString());
  }

  @Test
  void aRevocationDuringTheLaunchKillsTheWorkerAndReleasesOnlyOnceItIsGone() {
    HolderRules r = rules(OnLeaseLost.IDLE);
    r.handle(new HolderEvent.Start(0));
    r.handle(new HolderEvent.Granted(1, 0, 30 * S));
    List<HolderAction> lost = r.handle(new HolderEvent.LeaseLost(2, new LeaseLoss(EndReason.FORCE_RELEASED, "ops", true), 20_000));
    assertEquals(1, only(lost, HolderAction.KillWorker.class).gen(), "a worker still launching is killed");
    assertFalse(has(lost, HolderAction.Release.class), "not released while the worker may still run");
    assertEquals(Phase.LEASE_LOST, r.phase());
    List<HolderAction> gone = r.handle(new HolderEvent.WorkerGone(3, 1, 137, "killed"));
    assertEquals(null, only(gone, HolderAction.Release.class).reason(), "the release confirms the revocation");
    r.handle(new HolderEvent.LeaseReleased(4));
    assertEquals(Phase.IDLE, r.phase());
  }

  @Test
  void aLaunchThatFailsCompletesLikeAnExitFailsWhatWaitedAndReleases() {
    HolderRules r = rules(OnLeaseLost.IDLE);
    r.handle(new HolderEvent.Start(0));
    r.handle(new HolderEvent.Granted(1, 0, 30 * S));
    r.handle(new HolderEvent.WorkerReady(2, 1, 10));
    r.handle(new HolderEvent.Idle(3, "idle"));
    r.handle(new HolderEvent.SentAnswered(4));
    r.handle(new HolderEvent.WorkerGone(5, 1, 0, "stopped"));
    r.handle(new HolderEvent.LeaseReleased(6));
    assertEquals(Phase.IDLE, r.phase());
    r.handle(new HolderEvent.Demand(7));
    r.handle(new HolderEvent.Granted(8, 0, 40 * S));
    List<HolderAction> failed = r.handle(new HolderEvent.WorkerGone(9, 2, -1, "cannot create a temporary folder"));
    assertTrue(only(failed, HolderAction.FailPending.class).error().getMessage().contains("could not be started"));
    assertTrue(has(failed, HolderAction.Release.class));
    r.handle(new HolderEvent.LeaseReleased(10));
    assertEquals(Phase.IDLE, r.phase(), "never loading for ever");
  }

  @Test
  void aYieldDuringLoadingServesWhatWaitedThenGivesTheGpuBack() {
    HolderRules r = rules(OnLeaseLost.IDLE);
    r.handle(new HolderEvent.Start(0));
    r.handle(new HolderEvent.Granted(1, 0, 30 * S));
    assertTrue(r.handle(new HolderEvent.Yield(2, "llm waits", 20_000)).isEmpty());
    List<HolderAction> ready = r.handle(new HolderEvent.WorkerReady(3, 1, 10));
    assertTrue(has(ready, HolderAction.Attach.class), "what waited for this worker is served");
    assertTrue(has(ready, HolderAction.AwaitSentAnswered.class), "then it drains");
    assertTrue(has(r.handle(new HolderEvent.SentAnswered(4)), HolderAction.StopWorker.class));
    assertEquals("yielded", only(r.handle(new HolderEvent.WorkerGone(5, 1, 0, "stopped")), HolderAction.Release.class)
        .reason());
  }

  @Test
  void aHungWorkerIsKilledItsImagesFailAndTheLeaseGoesBackOnceItIsGone() {
    HolderRules r = serving(OnLeaseLost.IDLE);
    List<HolderAction> hung = r.handle(new HolderEvent.WorkerHung(3, 1, "no heartbeat"));
    assertTrue(has(hung, HolderAction.KillWorker.class)
        && hung.stream().anyMatch(a -> a instanceof HolderAction.SentGone g && !g.retry()), hung.toString());
    assertFalse(has(hung, HolderAction.Release.class));
    assertEquals("worker hung", only(r.handle(new HolderEvent.WorkerGone(4, 1, 137, "killed")),
        HolderAction.Release.class).reason());
  }

  @Test
  void aLossWhileDrainingStopsTheWorkerByTheHoldersDeadlineNotTheDrainsBound() {
    HolderRules r = serving(OnLeaseLost.IDLE);
    r.handle(new HolderEvent.Idle(3, "idle"));
    List<HolderAction> lost = r.handle(new HolderEvent.LeaseLost(4, new LeaseLoss(EndReason.DEADLINE, "no renew", false), 700));
    assertEquals(700, only(lost, HolderAction.StopWorker.class).withinMs());
    assertEquals(Phase.LEASE_LOST, r.phase());
  }

  @Test
  void onLeaseLostExitReleasesThenExits3AndAShutdownAfterItIsDoneAtOnce() {
    HolderRules r = serving(OnLeaseLost.EXIT);
    r.handle(new HolderEvent.LeaseLost(3, new LeaseLoss(EndReason.FORCE_RELEASED, "ops", true), 20_000));
    r.handle(new HolderEvent.WorkerGone(4, 1, 0, "stopped"));
    assertEquals(3, only(r.handle(new HolderEvent.LeaseReleased(5)), HolderAction.Exit.class).code());
    assertTrue(has(r.handle(new HolderEvent.ShutdownAsked(6, "the sidecar stops")), HolderAction.ShutdownDone.class));
  }

  @Test
  void aShutdownWhileTheLeaseIsBeingAcquiredReleasesItWhenItComes() {
    HolderRules r = rules(OnLeaseLost.IDLE);
    r.handle(new HolderEvent.Start(0));
    r.handle(new HolderEvent.ShutdownAsked(1, "SIGTERM"));
    assertEquals("shutdown", only(r.handle(new HolderEvent.Granted(2, 0, 30 * S)), HolderAction.Release.class)
        .reason());
    assertTrue(has(r.handle(new HolderEvent.LeaseReleased(3)), HolderAction.ShutdownDone.class));
  }

  /**
   * Every event in every phase is a row: none throws, none releases the lease while a worker runs,
   * none launches a second worker beside a running one.
   */
  @Test
  void everyEventInEveryPhaseIsARowThatNeverReleasesUnderARunningWorker() {
    List<Function<Long, HolderEvent>> events = List.of(HolderEvent.Start::new, HolderEvent.Demand::new,
        t -> new HolderEvent.Granted(t, 0, t + 30 * S), t -> new HolderEvent.Refused(t, "busy"),
        t -> new HolderEvent.WorkerReady(t, 1, 5), t -> new HolderEvent.WorkerFailed(t, 1, "no model"),
        t -> new HolderEvent.WorkerGone(t, 1, 1, "crash"), t -> new HolderEvent.WorkerHung(t, 1, "silent"),
        HolderEvent.SentAnswered::new, HolderEvent.DrainTimedOut::new, t -> new HolderEvent.Idle(t, "idle"),
        t -> new HolderEvent.Yield(t, "asked", 10_000), t -> new HolderEvent.ReleaseAsked(t, "/release"),
        t -> new HolderEvent.LeaseLost(t, new LeaseLoss(EndReason.STALE, "stale", true), 10_000),
        t -> new HolderEvent.Deadline(t, t + 20 * S), HolderEvent.LeaseReleased::new,
        t -> new HolderEvent.ShutdownAsked(t, "stop"), HolderEvent.InflightDrained::new);
    for (OnLeaseLost onLost : OnLeaseLost.values()) {
      // Every prefix of a few random histories reaches many (phase, worker, lease) combinations.
      java.util.Random rnd = new java.util.Random(onLost.ordinal());
      for (int history = 0; history < 300; history++) {
        HolderRules r = rules(onLost);
        List<String> trace = new ArrayList<>();
        for (long t = 1; t < 40; t++) {
          HolderEvent e = events.get(rnd.nextInt(events.size())).apply(t * S);
          int genBefore = r.gen();
          // Up after this event: it was up and this is not the news that it is gone.
          boolean stillUp = r.workerUp() && !(e instanceof HolderEvent.WorkerGone g && g.gen() == genBefore);
          List<HolderAction> out = r.handle(e);
          trace.add(e + " -> " + r.phase() + " " + out);
          if (stillUp && has(out, HolderAction.Release.class)) {
            throw new AssertionError("released while worker " + genBefore + " may run: " + String.join("\n", trace));
          }
          if (stillUp && has(out, HolderAction.Launch.class)) {
            throw new AssertionError("a second worker beside a running one: " + String.join("\n", trace));
          }
        }
      }
    }
  }
}
