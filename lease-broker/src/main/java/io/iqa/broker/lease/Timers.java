package io.iqa.broker.lease;

import io.vertx.core.Vertx;

/** One-shot timers, as the broker's waiting requests use them: Vert.x's, or a simulation's virtual clock. */
public interface Timers {

  /** Runs {@code task} after {@code delayMs}. @return the timer's id */
  long set(long delayMs, Runnable task);

  /** Cancels timer {@code id}; nothing when it ran or is unknown. */
  void cancel(long id);

  /** @return the clock these timers run on, in nanoseconds (what {@code queued_ms} is measured with) */
  default long nanoTime() {
    return System.nanoTime();
  }

  /** @return timers on {@code vertx}'s event loop */
  static Timers of(Vertx vertx) {
    return new Timers() {
      @Override
      public long set(long delayMs, Runnable task) {
        return vertx.setTimer(delayMs, id -> task.run());
      }

      @Override
      public void cancel(long id) {
        vertx.cancelTimer(id);
      }
    };
  }
}
