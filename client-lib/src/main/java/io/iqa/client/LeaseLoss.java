package io.iqa.client;

import io.iqa.protocol.wire.EndReason;

/**
 * Why a {@link Lease} may no longer be used. Stop all GPU work, then {@link Lease#close()}: for a
 * revocation that release is the confirmation the broker waits for before it hands the GPU on.
 *
 * @param reason the broker's reason, or the holder's own ({@link EndReason#DEADLINE}, {@link
 *     EndReason#UNKNOWN_LEASE}, {@link EndReason#ENDED})
 * @param message what happened, for a log line
 * @param revoked true when the broker waits for this holder's release to hand the GPU on
 */
public record LeaseLoss(EndReason reason, String message, boolean revoked) {
}
