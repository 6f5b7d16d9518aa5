package io.iqa.protocol.wire;

/**
 * Why a lease ended. The wire name is what {@code lease_lost.reason}, the events and the watch
 * channel's {@code revoked} and {@code ended} carry. The broker ends a lease for the first five;
 * the last three are a holder's own, never in a broker's answer.
 */
public enum EndReason implements WireEnum {
  /** Not renewed within its ttl. */
  EXPIRED,
  /** An operator or client force-released it. */
  FORCE_RELEASED,
  /** Older than {@code stale_max_age_s} while another request wanted its GPU. */
  STALE,
  /** The holder process (pid + start time) on the broker's host is gone. */
  HOLDER_EXITED,
  /** The holder released it. */
  RELEASED,
  /** A holder's own: the broker does not know the lease (it restarted without its state). */
  UNKNOWN_LEASE,
  /** A holder's own: no renew succeeded before its own deadline (the broker may be unreachable). */
  DEADLINE,
  /** A holder's own: the broker ended it for a reason this version does not know (a newer broker's). */
  ENDED;

  /** @return true for a revocation (force_released, stale): the holder must stop using the GPU, then confirm */
  public boolean revokes() {
    return this == FORCE_RELEASED || this == STALE;
  }

  /** @return the reason named {@code s}, or null for none or one this version does not know */
  public static EndReason fromWire(String s) {
    return WireNames.find(EndReason.class, s);
  }

  /** @return the reason a holder heard named {@code wire}; {@link #ENDED} for a name this version does not know */
  public static EndReason heard(String wire) {
    EndReason r = fromWire(wire);
    return r == null ? ENDED : r;
  }
}
