package io.iqa.broker.store;

import io.vertx.core.json.JsonObject;
import java.time.Instant;

/**
 * One entry of the lease history, of a {@link LeaseEventType}. An immediate force-release ({@code
 * immediate} true) hands the GPU on at once.
 *
 * @param seq increases by one per event across the store
 * @param by who caused it: a principal name, or {@code broker} for the broker's own decisions
 * @param reason free text given with a force-release, or why the broker decided
 * @param immediate for revocations: true when the GPU was handed on without waiting for the holder
 * @param handoffAt for revocations: the latest moment the GPU is handed on (the lease's expires_at)
 */
public record LeaseEvent(
    long seq, Instant time, LeaseEventType type, long leaseId, int gpu, String owner, String purpose, String by, String reason,
    Boolean immediate, Instant handoffAt) {

  /** @return true for the events after which the lease no longer holds any capacity */
  public boolean freesCapacity() {
    return switch (type) {
      case RELEASED, EXPIRED, HOLDER_EXITED, REVOKE_CONFIRMED, REVOKE_EXPIRED -> true;
      case FORCE_RELEASED, STALE -> Boolean.TRUE.equals(immediate);
      default -> false;
    };
  }

  /** @return true for a revocation: the holder must stop using the GPU */
  public boolean revokes() {
    return type.revokes();
  }

  public JsonObject toJson() {
    JsonObject json = new JsonObject()
        .put("seq", seq)
        .put("time", time.toString())
        .put("type", type.wireName())
        .put("lease_id", leaseId)
        .put("gpu", gpu)
        .put("owner", owner)
        .put("purpose", purpose)
        .put("by", by)
        .put("reason", reason);
    if (immediate != null) {
      json.put("immediate", immediate);
    }
    if (handoffAt != null) {
      json.put("handoff_at", handoffAt.toString());
    }
    return json;
  }
}
