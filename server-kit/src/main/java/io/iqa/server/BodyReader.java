package io.iqa.server;

import io.iqa.protocol.Sha256;
import io.iqa.protocol.Text;
import io.iqa.protocol.wire.ErrorCode;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.http.HttpServerRequest;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.HexFormat;

/**
 * Reads a request body as it arrives, whatever its content type: counted against {@code limit}
 * (a body that declares or sends more is refused with 413 before the excess is buffered), held in
 * a buffer that grows with what has arrived (never sized from Content-Length, which a client may
 * declare without sending), counted against an {@link InflightBudget} when one is given (503
 * {@code overloaded} beyond it), and hashed with SHA-256 on the way when asked.
 */
public final class BodyReader {

  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(BodyReader.class);
  private static final int FIRST_CHUNK = 16 * 1024;
  /** The most one body may be: it is held in one array. */
  public static final long MAX_BODY = 1L << 30;

  /** The bytes, and their SHA-256 (hex) when asked for. */
  public record Body(byte[] bytes, String sha256) {
  }

  private BodyReader() {
  }

  /**
   * @param budget counts the buffer's growth, or null; the caller closes the reservation when the
   *     request's answer ends
   * @param what named in a refusal ("request body", "image")
   */
  public static Future<Body> read(HttpServerRequest request, long limit, boolean sha256,
      InflightBudget.Reservation budget, String limitName) {
    if (limit > MAX_BODY) {
      throw new IllegalArgumentException(limitName + " of " + limit + " bytes is more than one body can hold ("
          + MAX_BODY + ")");
    }
    String declared = request.getHeader("Content-Length");
    if (declared != null) {
      long length;
      try {
        length = Long.parseLong(declared.trim());
      } catch (NumberFormatException e) {
        request.resume();
        return Future.failedFuture(HttpError.badRequest("Content-Length is not a number"));
      }
      if (length > limit) {
        return Future.failedFuture(tooLarge(length + " bytes declared", limit, limitName));
      }
    }
    MessageDigest digest = sha256 ? Sha256.digest() : null;
    Promise<Body> promise = Promise.promise();
    byte[][] data = {new byte[0]};
    int[] size = {0};
    request.handler(chunk -> {
      if (promise.future().isComplete()) {
        return;
      }
      int n = chunk.length();
      if ((long) size[0] + n > limit) {
        promise.tryFail(tooLarge("more than " + limit + " bytes sent", limit, limitName));
        return;
      }
      if (size[0] + n > data[0].length) {
        int grown = (int) Math.min(limit, Math.max(Math.max(FIRST_CHUNK, size[0] + n), 2L * data[0].length));
        if (budget != null && !budget.grow(grown - data[0].length)) {
          promise.tryFail(HttpError.overloaded("too many bytes of requests in flight (max_inflight_bytes); "
              + "retry later", 1));
          return;
        }
        data[0] = Arrays.copyOf(data[0], grown);
      }
      chunk.getBytes(data[0], size[0]);
      if (digest != null) {
        digest.update(data[0], size[0], n);
      }
      size[0] += n;
    });
    // A body the HTTP decoder could not read (a broken chunk size, an over-long chunk line or
    // trailer): the client's mistake, a 400 once, never a 500 with a stack trace.
    request.exceptionHandler(e -> {
      if (!promise.future().isComplete()) {
        LOG.warn("refused a malformed body of {} {}: {}", request.method(), Text.printable(request.path(), 200),
            Text.printable(String.valueOf(e.getMessage()), 200));
        promise.tryFail(HttpError.badRequest("malformed request body: " + Text.printable(
            e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage()), 200)));
        // The 400 was written just now (the failure runs through the router at once), but Vert.x
        // closes the connection as soon as this handler returns and flushes its writes only at the
        // end of a read: flush now, or the client gets no answer at all.
        if (request.connection() instanceof io.vertx.core.net.impl.VertxConnection c) {
          c.flush();
        }
      }
    });
    request.endHandler(v -> promise.tryComplete(new Body(
        size[0] == data[0].length ? data[0] : Arrays.copyOf(data[0], size[0]),
        digest == null ? null : HexFormat.of().formatHex(digest.digest()))));
    request.resume();
    return promise.future().onFailure(e -> {
      // Stop reading what nobody will use; the answer closes the connection.
      request.response().putHeader("Connection", "close");
    });
  }

  private static HttpError tooLarge(String what, long limit, String limitName) {
    return new HttpError(ErrorCode.TOO_LARGE, "request body too large (" + what + "); " + limitName + " is " + limit);
  }

}
