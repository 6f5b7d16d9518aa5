package io.iqa.client;

/**
 * Why a {@link Lease} may no longer be used. Stop all GPU work, then {@link Lease#close()}: for a
 * revocation that release is the confirmation the broker waits for before it hands the GPU on.
 *
 * @param reason {@code force_released}, {@code stale} (revocations); {@code expired},
 *     {@code holder_exited}, {@code released} (the broker ended it); {@code unknown_lease} (the
 *     broker does not know it: restarted without its state); {@code deadline} (no renew succeeded
 *     before the holder's own deadline: the broker may be unreachable)
 * @param message what happened, for a log line
 * @param revoked true when the broker waits for this holder's release to hand the GPU on
 */
public record LeaseLoss(String reason, String message, boolean revoked) {

  /** The reason of a loss by the holder's own deadline. */
  public static final String DEADLINE = "deadline";

  static boolean isRevocation(String reason) {
    return "force_released".equals(reason) || "stale".equals(reason);
  }
}
