package io.iqa.protocol.wire;

import static io.iqa.protocol.wire.WireMaps.decimal;
import static io.iqa.protocol.wire.WireMaps.instant;
import static io.iqa.protocol.wire.WireMaps.integer;
import static io.iqa.protocol.wire.WireMaps.put;
import static io.iqa.protocol.wire.WireMaps.text;
import static io.iqa.protocol.wire.WireMaps.whole;

import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A lease as the broker's v1 API shows it: to its holder on grant (with the token, once) and on
 * renew, and to anyone in {@code /v1/gpu/status}, in a busy answer's holders and in force-release
 * answers (never with the token). The one definition of these field names: the broker writes
 * them with {@link #toMap}, the clients read them with {@link #fromMap}. Absent fields are null;
 * {@code pid} and {@code host} are always written (null when unknown).
 *
 * @param ageS seconds since the grant (public views)
 * @param expiresInS seconds until expires_at, at least 0 (public views)
 * @param ttlS the lease's ttl (the holder's views)
 * @param token the bearer token, only in the grant answer
 * @param revoked why the lease is being revoked ({@code force_released}, {@code stale}), when it is
 * @param observedVramMb GPU memory nvidia-smi sees the holder's processes use (status, when observed)
 * @param queuedMs in the grant answer: how long the broker held the request before the step that
 *     granted it (never more than it really did), so the holder's own deadline is its send time +
 *     queued_ms + ttl_s, never later than the broker's expires_at
 */
public record LeaseView(long leaseId, LeaseState state, int gpu, String owner, String purpose, int vramMb,
    boolean exclusive, Priority priority, boolean yieldable, Long pid, String host, Double ageS, Double expiresInS,
    Instant grantedAt, Instant expiresAt, Double ttlS, String token, String revoked, Instant revokedAt,
    Instant yieldRequestedAt, Integer observedVramMb, Long queuedMs) {

  /** @return the same view with the token (the grant answer) */
  public LeaseView withToken(String value) {
    return new LeaseView(leaseId, state, gpu, owner, purpose, vramMb, exclusive, priority, yieldable, pid, host, ageS,
        expiresInS, grantedAt, expiresAt, ttlS, value, revoked, revokedAt, yieldRequestedAt, observedVramMb, queuedMs);
  }

  public Map<String, Object> toMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("lease_id", leaseId);
    m.put("state", state.wireName());
    m.put("gpu", gpu);
    m.put("owner", owner);
    m.put("purpose", purpose);
    m.put("vram_mb", vramMb);
    m.put("exclusive", exclusive);
    m.put("priority", priority.wireName());
    m.put("yield", yieldable);
    m.put("pid", pid);
    m.put("host", host);
    put(m, "age_s", ageS);
    put(m, "expires_in_s", expiresInS);
    put(m, "granted_at", grantedAt == null ? null : grantedAt.toString());
    put(m, "expires_at", expiresAt == null ? null : expiresAt.toString());
    put(m, "ttl_s", ttlS);
    put(m, "token", token);
    put(m, "revoked", revoked);
    put(m, "revoked_at", revokedAt == null ? null : revokedAt.toString());
    put(m, "yield_requested_at", yieldRequestedAt == null ? null : yieldRequestedAt.toString());
    put(m, "observed_vram_mb", observedVramMb);
    put(m, "queued_ms", queuedMs);
    return m;
  }

  /** @return the lease a wire map describes (unknown fields ignored: a newer broker may add some) */
  public static LeaseView fromMap(Map<String, ?> m) {
    LeaseState state = LeaseState.fromWire(text(m, "state"));
    Priority priority = Priority.parse(text(m, "priority"));
    return new LeaseView(whole(m, "lease_id") == null ? 0 : whole(m, "lease_id"),
        state == null ? LeaseState.HELD : state, integer(m, "gpu") == null ? 0 : integer(m, "gpu"),
        text(m, "owner"), text(m, "purpose"), integer(m, "vram_mb") == null ? 0 : integer(m, "vram_mb"),
        !Boolean.FALSE.equals(m.get("exclusive")), priority == null ? Priority.NORMAL : priority,
        Boolean.TRUE.equals(m.get("yield")), whole(m, "pid"),
        text(m, "host"), decimal(m, "age_s"), decimal(m, "expires_in_s"), instant(m, "granted_at"),
        instant(m, "expires_at"), decimal(m, "ttl_s"), text(m, "token"), text(m, "revoked"), instant(m, "revoked_at"),
        instant(m, "yield_requested_at"),
        integer(m, "observed_vram_mb"), whole(m, "queued_ms"));
  }
}
