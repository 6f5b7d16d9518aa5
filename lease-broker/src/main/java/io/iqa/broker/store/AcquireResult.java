package io.iqa.broker.store;

import java.time.Instant;
import java.util.List;

/** The outcome of one atomic acquire attempt. */
public sealed interface AcquireResult {

  /** The lease was granted. */
  record Granted(Lease lease) implements AcquireResult {
  }

  /**
   * Not granted now.
   *
   * @param holders the leases on the devices the request could use
   * @param queuePosition 1-based position the request has (or would have) in the queue of its best device
   * @param retryInMs when a blocking lease will expire, turn stale or be handed on, or recovery ends,
   *     from now; -1 when none will by itself
   * @param recoveringUntil when not null, nothing is granted before then: the store started without
   *     its lease state and waits for leases it may have forgotten to run out
   */
  record Busy(List<Lease> holders, int queuePosition, long retryInMs, Instant recoveringUntil)
      implements AcquireResult {
  }
}
