package io.iqa.broker.store;

import io.vertx.core.json.JsonObject;
import java.time.Instant;

/**
 * One entry of the lease history: {@code granted}, {@code renewed}, or an end ({@code released},
 * {@code expired}, {@code force_released}, {@code stale}, {@code holder_exited}).
 *
 * @param seq increases by one per event across the store
 * @param by who caused it: a principal name, or {@code broker} for the broker's own decisions
 * @param reason free text given with a force-release, or why the broker decided
 */
public record LeaseEvent(
    long seq, Instant time, String type, long leaseId, int gpu, String owner, String purpose, String by, String reason) {

  public JsonObject toJson() {
    return new JsonObject()
        .put("seq", seq)
        .put("time", time.toString())
        .put("type", type)
        .put("lease_id", leaseId)
        .put("gpu", gpu)
        .put("owner", owner)
        .put("purpose", purpose)
        .put("by", by)
        .put("reason", reason);
  }
}
