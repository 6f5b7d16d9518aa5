package io.iqa.holder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.client.LeaseLoss;
import io.iqa.holder.HolderRules.Action;
import io.iqa.holder.HolderRules.Event;
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

  private static boolean has(List<Action> actions, Class<? extends Action> type) {
    return actions.stream().anyMatch(type::isInstance);
  }

  private static <T extends Action> T only(List<Action> actions, Class<T> type) {
    List<Action> of = actions.stream().filter(type::isInstance).toList();
    assertEquals(1, of.size(), "expected one " + type.getSimpleName() + " in " + actions);
    return type.cast(of.get(0));
  }

  /** A sidecar that took the lease at start and whose worker serves. */
  private static HolderRules serving(OnLeaseLost onLost) {
    HolderRules r = rules(onLost);
    r.handle(new HolderRules.Start(0));
    r.handle(new HolderRules.Granted(1, 0, 30 * S));
    r.handle(new HolderRules.WorkerReady(2, 1, 100));
    assertEquals(Phase.SERVING, r.phase());
    return r;
  }

  @Test
  void theLeaseComesBeforeTheWorkerAndTheWorkerGetsTheLeasesDeadline() {
    HolderRules r = rules(OnLeaseLost.IDLE);
    assertEquals(0.0, only(r.handle(new HolderRules.Start(0)), HolderRules.Acquire.class).waitS());
    HolderRules.Launch launch = only(r.handle(new HolderRules.Granted(1, 0, 30 * S)), HolderRules.Launch.class);
    assertEquals(HolderRules.Placement.LEASED_GPU, launch.where());
    assertEquals(30 * S, launch.stopByNanos());
    List<Action> renewed = r.handle(new HolderRules.Deadline(10 * S, 40 * S));
    assertEquals(40 * S, only(renewed, HolderRules.SendDeadline.class).stopByNanos());
  }

  /** Found by the simulator: a grant whose answer came after its own deadline launched a worker. */
  @Test
  void aGrantThatArrivesAfterItsOwnDeadlineLaunchesNothingAndGoesBack() {
    HolderRules r = rules(OnLeaseLost.IDLE);
    r.handle(new HolderRules.Start(0));
    List<Action> late = r.handle(new HolderRules.Granted(10 * S, 0, 9 * S));
    assertFalse(has(late, HolderRules.Launch.class), late.toString());
    assertTrue(has(late, HolderRules.Release.class), late.toString());
  }

  @Test
  void aRevocationDuringTheLaunchKillsTheWorkerAndReleasesOnlyOnceItIsGone() {
    HolderRules r = rules(OnLeaseLost.IDLE);
    r.handle(new HolderRules.Start(0));
    r.handle(new HolderRules.Granted(1, 0, 30 * S));
    List<Action> lost = r.handle(new HolderRules.LeaseLost(2, new LeaseLoss(LeaseLoss.Reason.FORCE_RELEASED, "ops", true), 20_000));
    assertEquals(1, only(lost, HolderRules.KillWorker.class).gen(), "a worker still launching is killed");
    assertFalse(has(lost, HolderRules.Release.class), "not released while the worker may still run");
    assertEquals(Phase.LEASE_LOST, r.phase());
    List<Action> gone = r.handle(new HolderRules.WorkerGone(3, 1, 137, "killed"));
    assertEquals(null, only(gone, HolderRules.Release.class).reason(), "the release confirms the revocation");
    r.handle(new HolderRules.LeaseReleased(4));
    assertEquals(Phase.IDLE, r.phase());
  }

  @Test
  void aLaunchThatFailsCompletesLikeAnExitFailsWhatWaitedAndReleases() {
    HolderRules r = rules(OnLeaseLost.IDLE);
    r.handle(new HolderRules.Start(0));
    r.handle(new HolderRules.Granted(1, 0, 30 * S));
    r.handle(new HolderRules.WorkerReady(2, 1, 10));
    r.handle(new HolderRules.Idle(3, "idle"));
    r.handle(new HolderRules.SentAnswered(4));
    r.handle(new HolderRules.WorkerGone(5, 1, 0, "stopped"));
    r.handle(new HolderRules.LeaseReleased(6));
    assertEquals(Phase.IDLE, r.phase());
    r.handle(new HolderRules.Demand(7));
    r.handle(new HolderRules.Granted(8, 0, 40 * S));
    List<Action> failed = r.handle(new HolderRules.WorkerGone(9, 2, -1, "cannot create a temporary folder"));
    assertTrue(only(failed, HolderRules.FailPending.class).error().getMessage().contains("could not be started"));
    assertTrue(has(failed, HolderRules.Release.class));
    r.handle(new HolderRules.LeaseReleased(10));
    assertEquals(Phase.IDLE, r.phase(), "never loading for ever");
  }

  @Test
  void aYieldDuringLoadingServesWhatWaitedThenGivesTheGpuBack() {
    HolderRules r = rules(OnLeaseLost.IDLE);
    r.handle(new HolderRules.Start(0));
    r.handle(new HolderRules.Granted(1, 0, 30 * S));
    assertTrue(r.handle(new HolderRules.Yield(2, "llm waits", 20_000)).isEmpty());
    List<Action> ready = r.handle(new HolderRules.WorkerReady(3, 1, 10));
    assertTrue(has(ready, HolderRules.Attach.class), "what waited for this worker is served");
    assertTrue(has(ready, HolderRules.AwaitSentAnswered.class), "then it drains");
    assertTrue(has(r.handle(new HolderRules.SentAnswered(4)), HolderRules.StopWorker.class));
    assertEquals("yielded", only(r.handle(new HolderRules.WorkerGone(5, 1, 0, "stopped")), HolderRules.Release.class)
        .reason());
  }

  @Test
  void aHungWorkerIsKilledItsImagesFailAndTheLeaseGoesBackOnceItIsGone() {
    HolderRules r = serving(OnLeaseLost.IDLE);
    List<Action> hung = r.handle(new HolderRules.WorkerHung(3, 1, "no heartbeat"));
    assertTrue(has(hung, HolderRules.KillWorker.class) && has(hung, HolderRules.FailSent.class), hung.toString());
    assertFalse(has(hung, HolderRules.Release.class));
    assertEquals("worker hung", only(r.handle(new HolderRules.WorkerGone(4, 1, 137, "killed")),
        HolderRules.Release.class).reason());
  }

  @Test
  void aLossWhileDrainingStopsTheWorkerByTheHoldersDeadlineNotTheDrainsBound() {
    HolderRules r = serving(OnLeaseLost.IDLE);
    r.handle(new HolderRules.Idle(3, "idle"));
    List<Action> lost = r.handle(new HolderRules.LeaseLost(4, new LeaseLoss(LeaseLoss.Reason.DEADLINE, "no renew", false), 700));
    assertEquals(700, only(lost, HolderRules.StopWorker.class).withinMs());
    assertEquals(Phase.LEASE_LOST, r.phase());
  }

  @Test
  void onLeaseLostExitReleasesThenExits3AndAShutdownAfterItIsDoneAtOnce() {
    HolderRules r = serving(OnLeaseLost.EXIT);
    r.handle(new HolderRules.LeaseLost(3, new LeaseLoss(LeaseLoss.Reason.FORCE_RELEASED, "ops", true), 20_000));
    r.handle(new HolderRules.WorkerGone(4, 1, 0, "stopped"));
    assertEquals(3, only(r.handle(new HolderRules.LeaseReleased(5)), HolderRules.Exit.class).code());
    assertTrue(has(r.handle(new HolderRules.ShutdownAsked(6, "the sidecar stops")), HolderRules.ShutdownDone.class));
  }

  @Test
  void aShutdownWhileTheLeaseIsBeingAcquiredReleasesItWhenItComes() {
    HolderRules r = rules(OnLeaseLost.IDLE);
    r.handle(new HolderRules.Start(0));
    r.handle(new HolderRules.ShutdownAsked(1, "SIGTERM"));
    assertEquals("shutdown", only(r.handle(new HolderRules.Granted(2, 0, 30 * S)), HolderRules.Release.class)
        .reason());
    assertTrue(has(r.handle(new HolderRules.LeaseReleased(3)), HolderRules.ShutdownDone.class));
  }

  /**
   * Every event in every phase is a row: none throws, none releases the lease while a worker runs,
   * none launches a second worker beside a running one.
   */
  @Test
  void everyEventInEveryPhaseIsARowThatNeverReleasesUnderARunningWorker() {
    List<Function<Long, Event>> events = List.of(HolderRules.Start::new, HolderRules.Demand::new,
        t -> new HolderRules.Granted(t, 0, t + 30 * S), t -> new HolderRules.Refused(t, "busy"),
        t -> new HolderRules.WorkerReady(t, 1, 5), t -> new HolderRules.WorkerFailed(t, 1, "no model"),
        t -> new HolderRules.WorkerGone(t, 1, 1, "crash"), t -> new HolderRules.WorkerHung(t, 1, "silent"),
        HolderRules.SentAnswered::new, HolderRules.DrainTimedOut::new, t -> new HolderRules.Idle(t, "idle"),
        t -> new HolderRules.Yield(t, "asked", 10_000), t -> new HolderRules.ReleaseAsked(t, "/release"),
        t -> new HolderRules.LeaseLost(t, new LeaseLoss(LeaseLoss.Reason.STALE, "stale", true), 10_000),
        t -> new HolderRules.Deadline(t, t + 20 * S), HolderRules.LeaseReleased::new,
        t -> new HolderRules.ShutdownAsked(t, "stop"), HolderRules.InflightDrained::new);
    for (OnLeaseLost onLost : OnLeaseLost.values()) {
      // Every prefix of a few random histories reaches many (phase, worker, lease) combinations.
      java.util.Random rnd = new java.util.Random(onLost.ordinal());
      for (int history = 0; history < 300; history++) {
        HolderRules r = rules(onLost);
        List<String> trace = new ArrayList<>();
        for (long t = 1; t < 40; t++) {
          Event e = events.get(rnd.nextInt(events.size())).apply(t * S);
          int genBefore = r.gen();
          // Up after this event: it was up and this is not the news that it is gone.
          boolean stillUp = r.workerUp() && !(e instanceof HolderRules.WorkerGone g && g.gen() == genBefore);
          List<Action> out = r.handle(e);
          trace.add(e + " -> " + r.phase() + " " + out);
          if (stillUp && has(out, HolderRules.Release.class)) {
            throw new AssertionError("released while worker " + genBefore + " may run: " + String.join("\n", trace));
          }
          if (stillUp && has(out, HolderRules.Launch.class)) {
            throw new AssertionError("a second worker beside a running one: " + String.join("\n", trace));
          }
        }
      }
    }
  }
}
