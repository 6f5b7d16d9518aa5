package io.iqa.protocol.wire;

import com.fasterxml.jackson.annotation.JsonInclude;

/**
 * The body of {@code POST /v1/gpu/renew}; the broker's OpenAPI document says what each field may be.
 *
 * @param ttlS a new ttl for the lease, or null to keep its own
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record RenewRequest(String token, Double ttlS) {
}
