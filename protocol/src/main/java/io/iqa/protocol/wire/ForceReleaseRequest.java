package io.iqa.protocol.wire;

import com.fasterxml.jackson.annotation.JsonInclude;

/**
 * The body of {@code POST /v1/gpu/force_release}: one lease by its id, or an owner's leases (older
 * than {@code olderThanS} when given); the broker's OpenAPI document says what each field may be.
 *
 * @param reason shown to the holder and in the events; null: the broker's default
 * @param immediate admins only: hand the GPU on without waiting for the holder to stop; null: false
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record ForceReleaseRequest(Long leaseId, String owner, Double olderThanS, String reason, Boolean immediate) {
}
