package io.iqa.sidecar.service;

import io.iqa.protocol.wire.ErrorCode;
import io.iqa.server.BearerToken;
import io.iqa.server.HttpError;
import io.vertx.ext.web.RoutingContext;
import java.util.HexFormat;

/**
 * The admin endpoints' check ({@code /release}, {@code /shutdown}): the bearer token's SHA-256
 * must equal {@code auth.admin_token_sha256} (compared in constant time); without it, anyone may.
 */
final class AdminAuth {

  /** The admin token's SHA-256, or null when auth is off. */
  private final byte[] expected;

  /** @param expectedSha256 the admin token's SHA-256 in hex, or null when auth is off */
  AdminAuth(String expectedSha256) {
    this.expected = expectedSha256 == null ? null : HexFormat.of().parseHex(expectedSha256);
  }

  /** @throws HttpError 401 naming {@code path} when the request does not carry the admin token */
  void require(RoutingContext ctx, String path) {
    if (expected != null && !BearerToken.matches(BearerToken.of(ctx), expected)) {
      throw new HttpError(ErrorCode.UNAUTHORIZED, path + " needs 'Authorization: Bearer <admin token>'");
    }
  }
}
