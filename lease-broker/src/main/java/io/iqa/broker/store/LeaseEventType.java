package io.iqa.broker.store;

import io.iqa.protocol.wire.EndReason;
import io.iqa.protocol.wire.WireEnum;
import io.iqa.protocol.wire.WireNames;

/**
 * What a {@link LeaseEvent} records; its wire name is the event's {@code type} (in {@code
 * /v1/events}, the watch channel's {@code ended} and {@code revoked}, the Redis script's JSON).
 */
public enum LeaseEventType implements WireEnum {
  GRANTED,
  RENEWED,
  /** The ends: the lease holds nothing once they are recorded ({@link EndReason}). */
  RELEASED, EXPIRED, HOLDER_EXITED,
  /** The revocations: the holder must stop; the GPU is handed on when it confirms, or at handoff_at. */
  FORCE_RELEASED, STALE,
  /** How a revocation finished: the holder released, or its expires_at passed first. */
  REVOKE_CONFIRMED, REVOKE_EXPIRED,
  /** A waiter wants the GPU and the holder offered to yield (or the waiter asked to preempt). */
  YIELD_REQUESTED,
  /** About a GPU, not a lease ({@code lease_id} 0): a process uses it without a lease. */
  UNLEASED_GPU_USE;

  /** @return the event that records a lease ending (or revoked) for {@code reason} */
  public static LeaseEventType of(EndReason reason) {
    return valueOf(reason.name());
  }

  /** @return the end this event records (released, expired, holder_exited, force_released, stale), else null */
  public EndReason endReason() {
    return switch (this) {
      case RELEASED -> EndReason.RELEASED;
      case EXPIRED -> EndReason.EXPIRED;
      case HOLDER_EXITED -> EndReason.HOLDER_EXITED;
      case FORCE_RELEASED -> EndReason.FORCE_RELEASED;
      case STALE -> EndReason.STALE;
      default -> null;
    };
  }

  /** @return true for a revocation (force_released, stale): the holder must stop using the GPU */
  public boolean revokes() {
    EndReason r = endReason();
    return r != null && r.revokes();
  }

  /** @throws IllegalArgumentException for a name that is no event type */
  public static LeaseEventType fromWire(String s) {
    LeaseEventType t = WireNames.find(LeaseEventType.class, s);
    if (t == null) {
      throw new IllegalArgumentException("unknown lease event type '" + s + "'");
    }
    return t;
  }
}
