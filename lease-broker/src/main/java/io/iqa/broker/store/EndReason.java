package io.iqa.broker.store;

import io.iqa.protocol.wire.WireEnum;
import io.iqa.protocol.wire.WireNames;

/** Why a lease ended. The wire name is what {@code lease_lost.reason} and events carry. */
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
  RELEASED;

  /** @return true for a revocation (force_released, stale): the holder must stop using the GPU, then confirm */
  public boolean revokes() {
    return this == FORCE_RELEASED || this == STALE;
  }

  /** @return the reason named {@code s}, or null for none */
  public static EndReason fromWire(String s) {
    return WireNames.find(EndReason.class, s);
  }
}
