package io.iqa.sidecar.service;

import io.iqa.protocol.Sha256;
import io.iqa.protocol.wire.ErrorCode;
import io.iqa.server.HttpError;
import io.vertx.ext.web.RoutingContext;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Locale;

/**
 * The admin endpoints' check ({@code /release}, {@code /shutdown}): the bearer token's SHA-256
 * must equal {@code auth.admin_token_sha256} (compared in constant time); without it, anyone may.
 */
final class AdminAuth {

  private final String expectedSha256;

  /** @param expectedSha256 the admin token's SHA-256 in hex, or null when auth is off */
  AdminAuth(String expectedSha256) {
    this.expectedSha256 = expectedSha256;
  }

  /** @throws HttpError 401 naming {@code path} when the request does not carry the admin token */
  void require(RoutingContext ctx, String path) {
    if (expectedSha256 != null) {
      String header = ctx.request().getHeader("Authorization");
      String presented = header != null && header.regionMatches(true, 0, "Bearer ", 0, 7)
          ? header.substring(7).trim() : null;
      if (presented == null || !MessageDigest.isEqual(
          Sha256.hex(presented)
              .getBytes(StandardCharsets.US_ASCII),
          expectedSha256.toLowerCase(Locale.ROOT).getBytes(StandardCharsets.US_ASCII))) {
        throw new HttpError(ErrorCode.UNAUTHORIZED, path + " needs 'Authorization: Bearer <admin token>'");
      }
    }
  }
}
