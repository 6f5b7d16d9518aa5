package io.iqa.sidecar.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.client.LeaseLoss;
import io.iqa.sidecar.service.SidecarRules.Action;
import io.iqa.sidecar.service.SidecarRules.Event;
import io.iqa.sidecar.service.SidecarRules.Phase;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/** The sidecar's lifecycle rules, event by event: the rows that once were races. */
class SidecarRulesTest {

  private static final long S = 1_000_000_000L;

  private static SidecarRules rules(SidecarOptions.OnLeaseLost onLost) {
    return new SidecarRules(new SidecarRules.Settings(GpuMode.LEASED, true, onLost, 30_000, 60));
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
  private static SidecarRules serving(SidecarOptions.OnLeaseLost onLost) {
    SidecarRules r = rules(onLost);
    r.handle(new SidecarRules.Start(0));
    r.handle(new SidecarRules.Granted(1, 0, 30 * S));
    r.handle(new SidecarRules.WorkerReady(2, 1, 100));
    assertEquals(Phase.SERVING, r.phase());
    return r;
  }

  @Test
  void theLeaseComesBeforeTheWorkerAndTheWorkerGetsTheLeasesDeadline() {
    SidecarRules r = rules(SidecarOptions.OnLeaseLost.IDLE);
    assertEquals(0.0, only(r.handle(new SidecarRules.Start(0)), SidecarRules.Acquire.class).waitS());
    SidecarRules.Launch launch = only(r.handle(new SidecarRules.Granted(1, 0, 30 * S)), SidecarRules.Launch.class);
    assertEquals(SidecarRules.Placement.LEASED_GPU, launch.where());
    assertEquals(30 * S, launch.stopByNanos());
    List<Action> renewed = r.handle(new SidecarRules.Deadline(10 * S, 40 * S));
    assertEquals(40 * S, only(renewed, SidecarRules.SendDeadline.class).stopByNanos());
  }

  /** Found by the simulator: a grant whose answer came after its own deadline launched a worker. */
  @Test
  void aGrantThatArrivesAfterItsOwnDeadlineLaunchesNothingAndGoesBack() {
    SidecarRules r = rules(SidecarOptions.OnLeaseLost.IDLE);
    r.handle(new SidecarRules.Start(0));
    List<Action> late = r.handle(new SidecarRules.Granted(10 * S, 0, 9 * S));
    assertFalse(has(late, SidecarRules.Launch.class), late.toString());
    assertTrue(has(late, SidecarRules.Release.class), late.toString());
  }

  @Test
  void aRevocationDuringTheLaunchKillsTheWorkerAndReleasesOnlyOnceItIsGone() {
    SidecarRules r = rules(SidecarOptions.OnLeaseLost.IDLE);
    r.handle(new SidecarRules.Start(0));
    r.handle(new SidecarRules.Granted(1, 0, 30 * S));
    List<Action> lost = r.handle(new SidecarRules.LeaseLost(2, new LeaseLoss("force_released", "ops", true), 20_000));
    assertEquals(1, only(lost, SidecarRules.KillWorker.class).gen(), "a worker still launching is killed");
    assertFalse(has(lost, SidecarRules.Release.class), "not released while the worker may still run");
    assertEquals(Phase.LEASE_LOST, r.phase());
    List<Action> gone = r.handle(new SidecarRules.WorkerGone(3, 1, 137, "killed"));
    assertEquals(null, only(gone, SidecarRules.Release.class).reason(), "the release confirms the revocation");
    r.handle(new SidecarRules.LeaseReleased(4));
    assertEquals(Phase.IDLE, r.phase());
  }

  @Test
  void aLaunchThatFailsCompletesLikeAnExitFailsWhatWaitedAndReleases() {
    SidecarRules r = rules(SidecarOptions.OnLeaseLost.IDLE);
    r.handle(new SidecarRules.Start(0));
    r.handle(new SidecarRules.Granted(1, 0, 30 * S));
    r.handle(new SidecarRules.WorkerReady(2, 1, 10));
    r.handle(new SidecarRules.Idle(3, "idle"));
    r.handle(new SidecarRules.SentAnswered(4));
    r.handle(new SidecarRules.WorkerGone(5, 1, 0, "stopped"));
    r.handle(new SidecarRules.LeaseReleased(6));
    assertEquals(Phase.IDLE, r.phase());
    r.handle(new SidecarRules.Demand(7));
    r.handle(new SidecarRules.Granted(8, 0, 40 * S));
    List<Action> failed = r.handle(new SidecarRules.WorkerGone(9, 2, -1, "cannot create a temporary folder"));
    assertTrue(only(failed, SidecarRules.FailPending.class).error().getMessage().contains("could not be started"));
    assertTrue(has(failed, SidecarRules.Release.class));
    r.handle(new SidecarRules.LeaseReleased(10));
    assertEquals(Phase.IDLE, r.phase(), "never loading for ever");
  }

  @Test
  void aYieldDuringLoadingServesWhatWaitedThenGivesTheGpuBack() {
    SidecarRules r = rules(SidecarOptions.OnLeaseLost.IDLE);
    r.handle(new SidecarRules.Start(0));
    r.handle(new SidecarRules.Granted(1, 0, 30 * S));
    assertTrue(r.handle(new SidecarRules.Yield(2, "llm waits", 20_000)).isEmpty());
    List<Action> ready = r.handle(new SidecarRules.WorkerReady(3, 1, 10));
    assertTrue(has(ready, SidecarRules.Attach.class), "what waited for this worker is served");
    assertTrue(has(ready, SidecarRules.AwaitSentAnswered.class), "then it drains");
    assertTrue(has(r.handle(new SidecarRules.SentAnswered(4)), SidecarRules.StopWorker.class));
    assertEquals("yielded", only(r.handle(new SidecarRules.WorkerGone(5, 1, 0, "stopped")), SidecarRules.Release.class)
        .reason());
  }

  @Test
  void aHungWorkerIsKilledItsImagesFailAndTheLeaseGoesBackOnceItIsGone() {
    SidecarRules r = serving(SidecarOptions.OnLeaseLost.IDLE);
    List<Action> hung = r.handle(new SidecarRules.WorkerHung(3, 1, "no heartbeat"));
    assertTrue(has(hung, SidecarRules.KillWorker.class) && has(hung, SidecarRules.FailSent.class), hung.toString());
    assertFalse(has(hung, SidecarRules.Release.class));
    assertEquals("worker hung", only(r.handle(new SidecarRules.WorkerGone(4, 1, 137, "killed")),
        SidecarRules.Release.class).reason());
  }

  @Test
  void aLossWhileDrainingStopsTheWorkerByTheHoldersDeadlineNotTheDrainsBound() {
    SidecarRules r = serving(SidecarOptions.OnLeaseLost.IDLE);
    r.handle(new SidecarRules.Idle(3, "idle"));
    List<Action> lost = r.handle(new SidecarRules.LeaseLost(4, new LeaseLoss("deadline", "no renew", false), 700));
    assertEquals(700, only(lost, SidecarRules.StopWorker.class).withinMs());
    assertEquals(Phase.LEASE_LOST, r.phase());
  }

  @Test
  void onLeaseLostExitReleasesThenExits3AndAShutdownAfterItIsDoneAtOnce() {
    SidecarRules r = serving(SidecarOptions.OnLeaseLost.EXIT);
    r.handle(new SidecarRules.LeaseLost(3, new LeaseLoss("force_released", "ops", true), 20_000));
    r.handle(new SidecarRules.WorkerGone(4, 1, 0, "stopped"));
    assertEquals(3, only(r.handle(new SidecarRules.LeaseReleased(5)), SidecarRules.Exit.class).code());
    assertTrue(has(r.handle(new SidecarRules.ShutdownAsked(6, "the sidecar stops")), SidecarRules.ShutdownDone.class));
  }

  @Test
  void aShutdownWhileTheLeaseIsBeingAcquiredReleasesItWhenItComes() {
    SidecarRules r = rules(SidecarOptions.OnLeaseLost.IDLE);
    r.handle(new SidecarRules.Start(0));
    r.handle(new SidecarRules.ShutdownAsked(1, "SIGTERM"));
    assertEquals("shutdown", only(r.handle(new SidecarRules.Granted(2, 0, 30 * S)), SidecarRules.Release.class)
        .reason());
    assertTrue(has(r.handle(new SidecarRules.LeaseReleased(3)), SidecarRules.ShutdownDone.class));
  }

  /**
   * Every event in every phase is a row: none throws, none releases the lease while a worker runs,
   * none launches a second worker beside a running one.
   */
  @Test
  void everyEventInEveryPhaseIsARowThatNeverReleasesUnderARunningWorker() {
    List<Function<Long, Event>> events = List.of(SidecarRules.Start::new, SidecarRules.Demand::new,
        t -> new SidecarRules.Granted(t, 0, t + 30 * S), t -> new SidecarRules.Refused(t, "busy"),
        t -> new SidecarRules.WorkerReady(t, 1, 5), t -> new SidecarRules.WorkerFailed(t, 1, "no model"),
        t -> new SidecarRules.WorkerGone(t, 1, 1, "crash"), t -> new SidecarRules.WorkerHung(t, 1, "silent"),
        SidecarRules.SentAnswered::new, SidecarRules.DrainTimedOut::new, t -> new SidecarRules.Idle(t, "idle"),
        t -> new SidecarRules.Yield(t, "asked", 10_000), t -> new SidecarRules.ReleaseAsked(t, "/release"),
        t -> new SidecarRules.LeaseLost(t, new LeaseLoss("stale", "stale", true), 10_000),
        t -> new SidecarRules.Deadline(t, t + 20 * S), SidecarRules.LeaseReleased::new,
        t -> new SidecarRules.ShutdownAsked(t, "stop"), SidecarRules.InflightDrained::new);
    for (SidecarOptions.OnLeaseLost onLost : SidecarOptions.OnLeaseLost.values()) {
      // Every prefix of a few random histories reaches many (phase, worker, lease) combinations.
      java.util.Random rnd = new java.util.Random(onLost.ordinal());
      for (int history = 0; history < 300; history++) {
        SidecarRules r = rules(onLost);
        List<String> trace = new ArrayList<>();
        for (long t = 1; t < 40; t++) {
          Event e = events.get(rnd.nextInt(events.size())).apply(t * S);
          int genBefore = r.gen();
          // Up after this event: it was up and this is not the news that it is gone.
          boolean stillUp = r.workerUp() && !(e instanceof SidecarRules.WorkerGone g && g.gen() == genBefore);
          List<Action> out = r.handle(e);
          trace.add(e + " -> " + r.phase() + " " + out);
          if (stillUp && has(out, SidecarRules.Release.class)) {
            throw new AssertionError("released while worker " + genBefore + " may run: " + String.join("\n", trace));
          }
          if (stillUp && has(out, SidecarRules.Launch.class)) {
            throw new AssertionError("a second worker beside a running one: " + String.join("\n", trace));
          }
        }
      }
    }
  }
}
