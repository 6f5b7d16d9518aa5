package io.iqa.client;

import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * A {@link Lease}'s events on the client's one scheduler thread, handled in order, and the one timer
 * its {@link LeaseRules} ask for ({@link LeaseRules.WakeAt}). Once the client is closed an event is
 * handled on the caller's thread and no timer is set.
 */
final class LeaseScheduler {

  private final ScheduledExecutorService scheduler;
  private final Consumer<LeaseRules.Event> handler;
  private ScheduledFuture<?> wake;

  LeaseScheduler(ScheduledExecutorService scheduler, Consumer<LeaseRules.Event> handler) {
    this.scheduler = scheduler;
    this.handler = handler;
  }

  /** Handles {@code e} on the scheduler thread, in order with every other event of this lease. */
  void submit(LeaseRules.Event e) {
    try {
      scheduler.execute(() -> handler.accept(e));
    } catch (RejectedExecutionException closing) {
      handler.accept(e); // the client is shutting down: handled here, still one at a time (the lease's lock)
    }
  }

  /** A {@link LeaseRules.Tick} at {@code at} (nanoTime), in place of the one set before. */
  synchronized void wakeAt(long at) {
    cancel();
    try {
      wake = scheduler.schedule(() -> handler.accept(new LeaseRules.Tick(System.nanoTime())),
          Math.max(0, at - System.nanoTime()), TimeUnit.NANOSECONDS);
    } catch (RejectedExecutionException closing) {
      wake = null; // the client is closed: nothing more is due
    }
  }

  /** Runs {@code task} on the scheduler thread in {@code delayMs} (nothing once the client is closed). */
  void later(Runnable task, long delayMs) {
    try {
      scheduler.schedule(task, delayMs, TimeUnit.MILLISECONDS);
    } catch (RejectedExecutionException closing) {
      // the client is closed: nothing more is due
    }
  }

  /** Runs {@code task} on the scheduler thread every {@code periodMs} from {@code firstMs}; null once closed. */
  ScheduledFuture<?> every(Runnable task, long firstMs, long periodMs) {
    try {
      return scheduler.scheduleAtFixedRate(task, firstMs, periodMs, TimeUnit.MILLISECONDS);
    } catch (RejectedExecutionException closing) {
      return null;
    }
  }

  synchronized void cancel() {
    if (wake != null) {
      wake.cancel(false);
      wake = null;
    }
  }
}
