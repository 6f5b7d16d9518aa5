package io.iqa.server;

import io.iqa.protocol.Sha256;
import io.vertx.ext.web.RoutingContext;
import java.security.MessageDigest;

/**
 * The {@code Authorization: Bearer TOKEN} check of both servers: only tokens' SHA-256 digests are
 * configured, and a presented token is compared by its digest in constant time. Never logged.
 */
public final class BearerToken {

  private BearerToken() {
  }

  /** @return the request's bearer token, or null when it carries none */
  public static String of(RoutingContext ctx) {
    String header = ctx.request().getHeader("Authorization");
    return header != null && header.regionMatches(true, 0, "Bearer ", 0, 7) ? header.substring(7).trim() : null;
  }

  /** @return whether {@code token}'s SHA-256 is {@code digest} */
  public static boolean matches(String token, byte[] digest) {
    return token != null && MessageDigest.isEqual(Sha256.of(token), digest);
  }
}
