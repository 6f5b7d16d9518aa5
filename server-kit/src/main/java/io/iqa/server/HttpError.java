package io.iqa.server;

import io.iqa.protocol.wire.ErrorCode;
import io.vertx.core.json.JsonObject;

/**
 * An HTTP error with its v1 code: raised once (a failed future or {@code ctx.fail}), rendered by
 * {@link ErrorRenderer} as {@code {"error": code, "message": text, ...extra}}. Both servers use it.
 */
public final class HttpError extends RuntimeException {

  /**
   * What the error says: the HTTP status, the v1 code, the message and {@code Retry-After} (or
   * null); also what the sidecar's worker sends for an image it refused.
   */
  public record Refusal(int status, ErrorCode code, String message, Integer retryAfterS) {
    /** A code a newer peer sent that this one does not know is {@code internal}. */
    public Refusal {
      code = code == null ? ErrorCode.INTERNAL : code;
    }
  }

  private final Refusal refusal;
  private final JsonObject extra;

  /** With the code's usual status. */
  public HttpError(ErrorCode code, String message) {
    this(code.status(), code, message, null, null);
  }

  /** With another status than the code's usual one (e.g. 503 {@code lease_lost} from a sidecar). */
  public HttpError(int status, ErrorCode code, String message) {
    this(status, code, message, null, null);
  }

  public HttpError(ErrorCode code, String message, JsonObject extra) {
    this(code.status(), code, message, extra, null);
  }

  /** @param retryAfterS sent as {@code Retry-After} (503 overloaded), or null */
  public HttpError(int status, ErrorCode code, String message, JsonObject extra, Integer retryAfterS) {
    this(new Refusal(status, code, message, retryAfterS), extra);
  }

  public HttpError(Refusal refusal, JsonObject extra) {
    super(refusal.message(), null, false, false);
    this.refusal = refusal;
    this.extra = extra;
  }

  public static HttpError badRequest(String message) {
    return new HttpError(ErrorCode.BAD_REQUEST, message);
  }

  /** 503 {@code overloaded} with {@code Retry-After}. */
  public static HttpError overloaded(String message, int retryAfterS) {
    return new HttpError(503, ErrorCode.OVERLOADED, message, null, retryAfterS);
  }

  public Refusal refusal() {
    return refusal;
  }

  public JsonObject body() {
    JsonObject body = new JsonObject().put("error", refusal.code().wireName()).put("message", getMessage());
    if (extra != null) {
      body.mergeIn(extra);
    }
    return body;
  }
}
