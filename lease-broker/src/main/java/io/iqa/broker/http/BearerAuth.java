package io.iqa.broker.http;

import io.iqa.broker.AuthToken;
import io.iqa.protocol.wire.ErrorCode;
import io.iqa.server.BearerToken;
import io.iqa.server.HttpError;
import io.vertx.core.Handler;
import io.vertx.ext.web.RoutingContext;
import java.util.HexFormat;
import java.util.List;

/**
 * Checks {@code Authorization: Bearer ...} against configured SHA-256 digests. With no tokens
 * configured every caller is {@link Principal#OPEN}. The presented token is never logged.
 */
public final class BearerAuth implements Handler<RoutingContext> {

  public static final String PRINCIPAL = "principal";
  private final List<AuthToken> tokens;
  /** Each token's digest, decoded once: {@code digests.get(i)} is {@code tokens.get(i)}'s. */
  private final List<byte[]> digests;

  public BearerAuth(List<AuthToken> tokens) {
    this.tokens = tokens;
    this.digests = tokens.stream().map(t -> HexFormat.of().parseHex(t.tokenSha256())).toList();
  }

  @Override
  public void handle(RoutingContext ctx) {
    if (tokens.isEmpty()) {
      ctx.put(PRINCIPAL, Principal.OPEN);
      ctx.next();
      return;
    }
    String presented = BearerToken.of(ctx);
    if (presented == null) {
      ctx.response().putHeader("WWW-Authenticate", "Bearer");
      ctx.fail(new HttpError(ErrorCode.UNAUTHORIZED, "this broker requires 'Authorization: Bearer <token>'"));
      return;
    }
    for (int i = 0; i < tokens.size(); i++) {
      if (BearerToken.matches(presented, digests.get(i))) {
        AuthToken token = tokens.get(i);
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
}
