package io.iqa.broker.store;

import io.vertx.core.json.JsonObject;
import java.time.Instant;

/**
 * One entry of the lease history. Types: {@code granted}, {@code renewed}; the ends
 * {@code released}, {@code expired}, {@code holder_exited}; the revocations {@code force_released}
 * and {@code stale} (the holder is told to stop; the GPU is handed on when it confirms, or at
 * {@code handoffAt}); and how a revocation finished: {@code revoke_confirmed} (the holder released)
 * or {@code revoke_expired} (its {@code expires_at} passed first). An immediate force-release
 * ({@code immediate} true) hands the GPU on at once. {@code yield_requested}: a waiter wants the GPU
 * and the holder offered to yield (or the waiter asked to preempt); the holder decides.
 * {@code unleased_gpu_use} ({@code lease_id} 0): the broker saw a process use a GPU without a lease.
 *
 * @param seq increases by one per event across the store
 * @param by who caused it: a principal name, or {@code broker} for the broker's own decisions
 * @param reason free text given with a force-release, or why the broker decided
 * @param immediate for revocations: true when the GPU was handed on without waiting for the holder
 * @param handoffAt for revocations: the latest moment the GPU is handed on (the lease's expires_at)
 */
public record LeaseEvent(
    long seq, Instant time, String type, long leaseId, int gpu, String owner, String purpose, String by, String reason,
    Boolean immediate, Instant handoffAt) {

  public static final String REVOKE_CONFIRMED = "revoke_confirmed";
  public static final String REVOKE_EXPIRED = "revoke_expired";
  public static final String YIELD_REQUESTED = "yield_requested";
  /** About a GPU, not a lease ({@code lease_id} 0): a process uses it without a lease. */
  public static final String UNLEASED_GPU_USE = "unleased_gpu_use";

  /** @return true for the events after which the lease no longer holds any capacity */
  public boolean freesCapacity() {
    return switch (type) {
      case "released", "expired", "holder_exited", REVOKE_CONFIRMED, REVOKE_EXPIRED -> true;
      case "force_released", "stale" -> Boolean.TRUE.equals(immediate);
      default -> false;
    };
  }

  /** @return true for a revocation: the holder must stop using the GPU */
  public boolean revokes() {
    return EndReason.revokes(type);
  }

  public JsonObject toJson() {
    JsonObject json = new JsonObject()
        .put("seq", seq)
        .put("time", time.toString())
        .put("type", type)
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
