package io.iqa.protocol.wire;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.time.Instant;
import java.util.Map;

/**
 * A lease as the broker's v1 API shows it: to its holder on grant (with the token, once) and on
 * renew, and to anyone in {@code /v1/gpu/status}, in a busy answer's holders and in force-release
 * answers (never with the token). The one definition of these fields: the broker writes it and
 * the clients read it through {@link WireJson}. Absent fields are null (and not written);
 * {@code pid} and {@code host} are always written (null when unknown). A state or priority this
 * version does not know reads as held and normal.
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
@JsonInclude(JsonInclude.Include.NON_NULL)
public record LeaseView(long leaseId, LeaseState state, int gpu, String owner, String purpose, int vramMb,
    boolean exclusive, Priority priority, @JsonProperty("yield") boolean yieldable,
    @JsonInclude(JsonInclude.Include.ALWAYS) Long pid, @JsonInclude(JsonInclude.Include.ALWAYS) String host,
    Double ageS, Double expiresInS, Instant grantedAt, Instant expiresAt, Double ttlS, String token, String revoked,
    Instant revokedAt, Instant yieldRequestedAt, Integer observedVramMb, Long queuedMs) {

  public LeaseView {
    state = state == null ? LeaseState.HELD : state;
    priority = priority == null ? Priority.NORMAL : priority;
  }

  /** @return the same view with the token (the grant answer) */
  public LeaseView withToken(String value) {
    return new LeaseView(leaseId, state, gpu, owner, purpose, vramMb, exclusive, priority, yieldable, pid, host, ageS,
        expiresInS, grantedAt, expiresAt, ttlS, value, revoked, revokedAt, yieldRequestedAt, observedVramMb, queuedMs);
  }

  public Map<String, Object> toMap() {
    return WireJson.toMap(this);
  }

  /** @return the lease a wire map describes (unknown fields ignored: a newer broker may add some) */
  public static LeaseView fromMap(Map<String, ?> m) {
    return WireJson.fromMap(m, LeaseView.class);
  }
}
