package io.iqa.broker.http;

import io.iqa.broker.AuthToken;
import io.iqa.protocol.Sha256;
import io.iqa.protocol.wire.ErrorCode;
import io.iqa.server.HttpError;
import io.vertx.core.Handler;
import io.vertx.ext.web.RoutingContext;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;

/**
 * Checks {@code Authorization: Bearer ...} against configured SHA-256 digests. With no tokens
 * configured every caller is {@link Principal#OPEN}. The presented token is never logged.
 */
public final class BearerAuth implements Handler<RoutingContext> {

  public static final String PRINCIPAL = "principal";
  private final List<AuthToken> tokens;

  public BearerAuth(List<AuthToken> tokens) {
    this.tokens = tokens;
  }

  @Override
  public void handle(RoutingContext ctx) {
    if (tokens.isEmpty()) {
      ctx.put(PRINCIPAL, Principal.OPEN);
      ctx.next();
      return;
    }
    String header = ctx.request().getHeader("Authorization");
    if (header == null || !header.regionMatches(true, 0, "Bearer ", 0, 7)) {
      ctx.response().putHeader("WWW-Authenticate", "Bearer");
      ctx.fail(new HttpError(ErrorCode.UNAUTHORIZED, "this broker requires 'Authorization: Bearer <token>'"));
      return;
    }
    byte[] digest = Sha256.of(header.substring(7).trim());
    for (AuthToken token : tokens) {
      if (MessageDigest.isEqual(digest, HexFormat.of().parseHex(token.tokenSha256()))) {
        ctx.put(PRINCIPAL, new Principal(token.name(), token.role(), token.owners()));
        ctx.next();
        return;
      }
    }
    ctx.response().putHeader("WWW-Authenticate", "Bearer error=\"invalid_token\"");
    ctx.fail(new HttpError(ErrorCode.UNAUTHORIZED, "the bearer token is not valid for this broker"));
  }

  public static Principal principal(RoutingContext ctx) {
    Principal p = ctx.get(PRINCIPAL);
    return p == null ? Principal.OPEN : p;
  }

  /** @return the token's SHA-256, what the broker keeps and compares */
  public static String sha256Hex(String s) {
    return Sha256.hex(s);
  }

}
