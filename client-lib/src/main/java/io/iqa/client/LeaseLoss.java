package io.iqa.client;

import io.iqa.protocol.wire.WireEnum;
import io.iqa.protocol.wire.WireNames;

/**
 * Why a {@link Lease} may no longer be used. Stop all GPU work, then {@link Lease#close()}: for a
 * revocation that release is the confirmation the broker waits for before it hands the GPU on.
 *
 * @param message what happened, for a log line
 * @param revoked true when the broker waits for this holder's release to hand the GPU on
 */
public record LeaseLoss(Reason reason, String message, boolean revoked) {

  /**
   * The broker's reasons for ending a lease (its wire names: {@code lease_lost.reason}, the watch
   * channel's {@code revoked} and {@code ended}), and the holder's own two.
   */
  public enum Reason implements WireEnum {
    /** Revocations: an operator or client took it back, or it was stale while wanted. */
    FORCE_RELEASED, STALE,
    /** The broker ended it: not renewed in time, its holder process gone, released. */
    EXPIRED, HOLDER_EXITED, RELEASED,
    /** The broker does not know it (restarted without its state). */
    UNKNOWN_LEASE,
    /** No renew succeeded before the holder's own deadline: the broker may be unreachable. */
    DEADLINE,
    /** Ended for a reason this version does not know (a newer broker's). */
    ENDED;

    /** @return true for a revocation: the broker waits for the holder's release */
    public boolean revokes() {
      return this == FORCE_RELEASED || this == STALE;
    }

    /** @return the reason named {@code wire}; {@link #ENDED} for a name this version does not know */
    public static Reason fromWire(String wire) {
      Reason r = WireNames.find(Reason.class, wire);
      return r == null ? ENDED : r;
    }
  }
}
