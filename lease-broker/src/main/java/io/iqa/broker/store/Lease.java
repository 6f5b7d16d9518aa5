package io.iqa.broker.store;

import io.iqa.protocol.wire.EndReason;
import io.iqa.protocol.wire.LeaseState;
import io.iqa.protocol.wire.LeaseView;
import io.iqa.protocol.wire.Priority;
import io.vertx.core.json.JsonObject;
import java.time.Instant;

/**
 * A snapshot of one granted lease. Times are computed by the store from its own clock when the
 * snapshot is taken. It carries no token, only its hash, which never leaves the broker.
 *
 * <p>A lease that was force-released or ended as stale is <em>revoking</em> ({@link #revoked()} not
 * null): its holder has been told to stop, and the lease keeps its capacity until the holder
 * confirms (releases) or {@code expiresAt} passes, whichever comes first.
 *
 * @param vramMb VRAM reserved; for a whole-device lease the device's size (0 when unknown)
 * @param exclusive true for a whole-device lease
 * @param revoked why the lease is being taken back, or null while it is simply held
 * @param revokedAt when the revocation started, or null
 * @param yieldable the holder offered to give the GPU back when asked
 * @param yieldRequestedAt when the broker asked the holder to yield, or null
 */
public record Lease(
    long leaseId,
    String tokenHash,
    int gpu,
    String owner,
    String purpose,
    int vramMb,
    boolean exclusive,
    Priority priority,
    Long pid,
    String pidIdentity,
    String host,
    Instant grantedAt,
    Instant expiresAt,
    long ttlMs,
    long ageMs,
    long expiresInMs,
    EndReason revoked,
    Instant revokedAt,
    boolean yieldable,
    Instant yieldRequestedAt) {

  public boolean revoking() {
    return revoked != null;
  }

  /** The view anyone may see: status, busy holders, force-release answers. No token, no hash. */
  public LeaseView publicView() {
    return new LeaseView(leaseId, state(), gpu, owner, purpose, vramMb, exclusive, priority, yieldable, pid, host,
        ageMs / 1000.0, Math.max(0, expiresInMs) / 1000.0, grantedAt, expiresAt, null, null,
        // The GPU is handed on when the holder releases, at expires_at at the latest.
        revoked == null ? null : revoked.wireName(), revoked == null ? null : revokedAt, yieldRequestedAt, null, null);
  }

  public JsonObject toPublicJson() {
    return new JsonObject(publicView().toMap());
  }

  /**
   * The holder's view, returned once on grant (with the token and {@code queuedMs}) and on every
   * renew and watch (without: both null).
   */
  public JsonObject toHolderJson(String token, Long queuedMs) {
    return new JsonObject(new LeaseView(leaseId, state(), gpu, owner, purpose, vramMb, exclusive, priority, yieldable,
        pid, host, null, null, grantedAt, expiresAt, ttlMs / 1000.0, token, null, null, null, null, queuedMs).toMap());
  }

  private LeaseState state() {
    return revoked == null ? LeaseState.HELD : LeaseState.REVOKING;
  }
}
