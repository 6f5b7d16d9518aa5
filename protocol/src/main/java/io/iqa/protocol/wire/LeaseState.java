package io.iqa.protocol.wire;

/** A granted lease's state on the wire: held, or revoked and waiting for its holder to stop. */
public enum LeaseState implements WireEnum {
  HELD,
  /** Force-released or stale: the holder was told to stop; the GPU moves on when it confirms or expires_at passes. */
  REVOKING;

  /** @return the state, or null for one this version does not know */
  public static LeaseState fromWire(String wire) {
    return WireNames.find(LeaseState.class, wire);
  }
}
