package io.iqa.protocol.wire;

import com.fasterxml.jackson.annotation.JsonInclude;

/**
 * The body of {@code POST /v1/gpu/release}; the broker's OpenAPI document says what each field may be.
 *
 * @param reason why, for the broker's {@code released} event ({@code yielded}, {@code idle}), or null
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record ReleaseRequest(String token, String reason) {
}
