package io.iqa.broker.store;

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
   * @param retryInMs when a blocking lease will expire or turn stale, from now; -1 when none will by itself
   */
  record Busy(List<Lease> holders, int queuePosition, long retryInMs) implements AcquireResult {
  }
}
