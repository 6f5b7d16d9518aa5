package io.iqa.protocol.wire;

/**
 * The events of a lease's watch channel ({@code GET /v1/gpu/lease/watch}, server-sent events):
 * the broker writes them, the lease holder's client acts on them.
 */
public enum WatchEvent implements WireEnum {
  /** The lease as it is when the watch opens (the holder's view). */
  LEASE,
  /** Force-released or stale: stop using the GPU now, then release (the GPU moves on then). */
  REVOKED,
  /** A waiter wants the GPU and this holder offered to yield (or the waiter preempts). */
  YIELD_REQUESTED,
  /** The lease holds nothing any more (released, expired, revocation confirmed); the stream ends. */
  ENDED;

  /** @return the event, or null for one this version does not know (ignored) */
  public static WatchEvent fromWire(String wire) {
    return WireNames.find(WatchEvent.class, wire);
  }
}
