package io.iqa.server;

import io.iqa.protocol.Text;
import io.iqa.protocol.wire.ErrorCode;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.ext.web.Router;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An HTTP server that holds under abuse ({@link ServerLimits}): a connection must deliver a
 * complete request head within the header timeout (the idle timeout between requests), a body
 * within the body timeout; beyond {@code max_connections} only {@code /health} is answered; an
 * over-long request line or head, or a malformed request, gets a JSON 414/431/400; what a web page
 * could send to act on the server is refused before any route sees it ({@link RequestPolicy});
 * {@code Expect: 100-continue} is answered. Every refusal is JSON; a connection that never sent a
 * request is just closed.
 */
public final class GuardedServer {

  private static final Logger LOG = LoggerFactory.getLogger(GuardedServer.class);
  private static final long OVER_LIMIT_GRACE_MS = 2000;

  private final Vertx vertx;
  private final Listening at;
  private final Map<HttpConnection, Conn> conns = new ConcurrentHashMap<>();
  private final AtomicInteger open = new AtomicInteger();

  private GuardedServer(Vertx vertx, Listening at) {
    this.vertx = vertx;
    this.at = at;
  }

  /**
   * Listens on {@code at}'s host and port, handing requests to {@code router}.
   * @return the server, or a failed future whose message names the address it could not listen on
   */
  public static Future<HttpServer> listen(Vertx vertx, Router router, Listening at) {
    GuardedServer guard = new GuardedServer(vertx, at);
    ServerLimits limits = at.limits();
    String host = at.host();
    int port = at.port();
    // First route: re-arm the connection's idle timer when an answer ends.
    router.route().order(Integer.MIN_VALUE).handler(ctx -> {
      HttpConnection c = ctx.request().connection();
      ctx.addEndHandler(v -> guard.answered(c));
      ctx.next();
    });
    // No h2c: then Vert.x sets up HTTP/1 at accept and calls the connection handler at once, so an
    // idle socket is seen (with h2c it is only seen once its first request has arrived).
    HttpServerOptions options = new HttpServerOptions()
        .setHttp2ClearTextEnabled(false)
        .setMaxInitialLineLength(limits.maxUriBytes())
        .setMaxHeaderSize(limits.maxHeaderBytes())
        .setHandle100ContinueAutomatically(true);
    return vertx.createHttpServer(options)
        .connectionHandler(guard::connected)
        .invalidRequestHandler(guard::invalid)
        .requestHandler(req -> guard.request(req, router))
        .listen(port, host)
        .recover(e -> Future.failedFuture(new IllegalStateException("cannot listen on " + host + ":" + port + ": "
            + e.getMessage(), e)));
  }

  /** @return open connections now (for metrics and tests) */
  public int openConnections() {
    return open.get();
  }

  private static final class Conn {
    final boolean overLimit;
    long timer = -1;

    Conn(boolean overLimit) {
      this.overLimit = overLimit;
    }
  }

  private void connected(HttpConnection c) {
    Conn conn = new Conn(open.incrementAndGet() > at.limits().maxConnections());
    conns.put(c, conn);
    c.closeHandler(v -> {
      open.decrementAndGet();
      Conn gone = conns.remove(c);
      if (gone != null && gone.timer >= 0) {
        vertx.cancelTimer(gone.timer);
      }
    });
    long headerTimeoutMs = at.limits().headerTimeoutMs();
    arm(c, conn, conn.overLimit ? Math.min(OVER_LIMIT_GRACE_MS, headerTimeoutMs) : headerTimeoutMs);
  }

  /** No complete request head within {@code ms}: close. A request that arrives cancels it. */
  private void arm(HttpConnection c, Conn conn, long ms) {
    if (conn.timer >= 0) {
      vertx.cancelTimer(conn.timer);
    }
    conn.timer = vertx.setTimer(ms, t -> {
      conn.timer = -1;
      c.close();
    });
  }

  private void disarm(Conn conn) {
    if (conn != null && conn.timer >= 0) {
      vertx.cancelTimer(conn.timer);
      conn.timer = -1;
    }
  }

  private void answered(HttpConnection c) {
    Conn conn = conns.get(c);
    if (conn != null) {
      arm(c, conn, at.limits().idleTimeoutMs());
    }
  }

  private void request(HttpServerRequest req, Router router) {
    Conn conn = conns.get(req.connection());
    disarm(conn);
    boolean health = req.path().equals("/health") && (req.method() == HttpMethod.GET || req.method() == HttpMethod.HEAD);
    if (conn != null && conn.overLimit && !health) {
      req.response().putHeader("Connection", "close");
      Json.send(req.response(), HttpError.overloaded("more than max_connections=" + at.limits().maxConnections()
          + " connections are open; retry later", 1));
      return;
    }
    // A body the decoder cannot read, on a route that does not read it: said once, quietly (a route
    // that reads its body answers it: BodyReader).
    req.exceptionHandler(e -> LOG.debug("{} {}: {}", req.method(), Text.printable(req.path(), 200),
        Text.printable(String.valueOf(e.getMessage()), 200)));
    HttpError refused = at.policy().check(req, at.host());
    if (refused != null) {
      LOG.warn("refused {} {}: {}", req.method(), Text.printable(req.path(), 200), refused.getMessage());
      if (refused.refusal().code() == ErrorCode.METHOD_NOT_ALLOWED) {
        req.response().putHeader("Allow", RequestPolicy.ALLOW);
      }
      if (hasBody(req)) {
        req.response().putHeader("Connection", "close"); // its body is not read
      }
      Json.send(req.response(), refused);
      return;
    }
    if (hasBody(req)) {
      long t = vertx.setTimer(at.limits().bodyTimeoutMs(), id -> bodyTooSlow(req));
      req.end().onComplete(ar -> vertx.cancelTimer(t));
    }
    router.handle(req);
  }

  private static boolean hasBody(HttpServerRequest req) {
    String length = req.getHeader("Content-Length");
    return req.getHeader("Transfer-Encoding") != null || length != null && !length.trim().equals("0");
  }

  private void bodyTooSlow(HttpServerRequest req) {
    if (req.isEnded() || req.response().headWritten()) {
      return;
    }
    req.response().putHeader("Connection", "close");
    Json.send(req.response(), 408, new HttpError(ErrorCode.REQUEST_TIMEOUT, "the request body did not arrive within "
        + "body_timeout_ms=" + at.limits().bodyTimeoutMs()).body());
    req.connection().close();
  }

  private void invalid(HttpServerRequest req) {
    Throwable cause = req.decoderResult() == null ? null : req.decoderResult().cause();
    HttpError e = cause instanceof TooLongHttpLineException
        ? new HttpError(ErrorCode.URI_TOO_LONG, "the request line is longer than max_uri_bytes="
            + at.limits().maxUriBytes())
        : cause instanceof TooLongHttpHeaderException
            ? new HttpError(ErrorCode.HEADERS_TOO_LARGE, "the request headers exceed max_header_bytes="
                + at.limits().maxHeaderBytes())
            : HttpError.badRequest("malformed HTTP request" + (cause == null ? ""
                : ": " + Text.printable(cause.getMessage(), 200)));
    LOG.debug("refused an invalid request: {}", e.getMessage());
    req.response().putHeader("Connection", "close");
    Json.send(req.response(), e);
  }
}
