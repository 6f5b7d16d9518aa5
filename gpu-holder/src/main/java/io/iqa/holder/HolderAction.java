package io.iqa.holder;

import io.iqa.holder.HolderRules.Phase;
import io.iqa.holder.HolderRules.Placement;
import io.iqa.server.HttpError;

/** What the {@link HolderRules} ask their edge to do, in the order given. */
public sealed interface HolderAction {

  /** The lifecycle's state changed: /health and the log. */
  record Enter(Phase phase, String why) implements HolderAction {
  }

  /** Ask the broker for the lease (lease.wait_s when {@code waitS} is null). */
  record Acquire(Double waitS) implements HolderAction {
  }

  /** Start worker {@code gen}; under a lease it must stop by {@code stopByNanos} on its own. */
  record Launch(int gen, Placement where, Long stopByNanos) implements HolderAction {
  }

  /** The queue's jobs go to worker {@code gen}. */
  record Attach(int gen) implements HolderAction {
  }

  /** The queue stops sending jobs: they wait for the next worker. */
  record Detach() implements HolderAction {
  }

  /** Tell {@link SentAnswered} once every image sent has its answer, {@link DrainTimedOut} after {@code withinMs}. */
  record AwaitSentAnswered(long withinMs) implements HolderAction {
  }

  /** Worker {@code gen}: finish what runs, hand back the rest, exit; killed after {@code withinMs}. */
  record StopWorker(int gen, long withinMs) implements HolderAction {
  }

  /** Worker {@code gen}: SIGKILL now (once launched, if it is not yet). */
  record KillWorker(int gen) implements HolderAction {
  }

  /** The images waiting for a worker fail with {@code error}. */
  record FailPending(HttpError error) implements HolderAction {
  }

  /**
   * The worker is gone: the images sent to it and not answered wait for the next one ({@code
   * retry}), or fail with {@code error}.
   */
  record SentGone(HttpError error, boolean retry) implements HolderAction {
  }

  /** Release the lease (the worker is gone), with {@code reason} for the broker's event (or none). */
  record Release(String reason) implements HolderAction {
  }

  /** Worker {@code gen} under the lease must stop by {@code stopByNanos} when no newer word comes. */
  record SendDeadline(int gen, long stopByNanos) implements HolderAction {
  }

  /** The process exits with {@code code}. */
  record Exit(int code) implements HolderAction {
  }

  /** The start is done: {@code failure} says why it failed (the models did not load), else null. */
  record StartDone(String failure) implements HolderAction {
  }

  /** The holder has no worker and no lease: a POST /release waiting for that is answered. */
  record ReleaseDone() implements HolderAction {
  }

  /** The shutdown is done: worker gone, lease released. */
  record ShutdownDone() implements HolderAction {
  }
}
