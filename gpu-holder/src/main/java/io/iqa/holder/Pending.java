package io.iqa.holder;

import io.iqa.server.HttpError;
import io.vertx.core.Future;

/**
 * The work a {@link HolderLoop} serves: what waits for a worker (images to score, requests to
 * forward) and what was sent to one. It tells the loop of new work through the {@link Runnable}
 * it was built with ({@link HolderLoop#demand()}). Every call comes on the loop's event loop.
 */
public interface Pending {

  /** What waits goes to worker {@code gen}, and so does what comes next. */
  void attach(int gen);

  /** Nothing more is sent: new work waits for the next worker. */
  void detach();

  /** Completes once everything sent to the worker has its answer. */
  Future<Void> whenSentAnswered();

  /** What waits for a worker fails with {@code why}. */
  void failPending(HttpError why);

  /** The worker is gone: what was sent and not answered fails with {@code why}, or waits again ({@code retry}). */
  void sentGone(HttpError why, boolean retry);

  boolean hasPending();

  /** @return nothing waits and nothing was sent */
  boolean idle();

  /** @return when work last came or ended (nanoTime) */
  long lastWorkNanos();
}
