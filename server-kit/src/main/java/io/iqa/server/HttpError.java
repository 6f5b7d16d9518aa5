package io.iqa.server;

import io.iqa.protocol.wire.ErrorCode;
import io.vertx.core.json.JsonObject;

/**
 * An HTTP error with its v1 code: raised once (a failed future or {@code ctx.fail}), rendered by
 * {@link ErrorRenderer} as {@code {"error": code, "message": text, ...extra}}. Both servers use it.
 */
public final class HttpError extends RuntimeException {

  private final int status;
  private final ErrorCode code;
  private final JsonObject extra;
  private final Integer retryAfterS;

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
    super(message, null, false, false);
    this.status = status;
    this.code = code;
    this.extra = extra;
    this.retryAfterS = retryAfterS;
  }

  public static HttpError badRequest(String message) {
    return new HttpError(ErrorCode.BAD_REQUEST, message);
  }

  /** 503 {@code overloaded} with {@code Retry-After}. */
  public static HttpError overloaded(String message, int retryAfterS) {
    return new HttpError(503, ErrorCode.OVERLOADED, message, null, retryAfterS);
  }

  public int status() {
    return status;
  }

  public ErrorCode code() {
    return code;
  }

  public Integer retryAfterS() {
    return retryAfterS;
  }

  public JsonObject body() {
    JsonObject body = new JsonObject().put("error", code.wireName()).put("message", getMessage());
    if (extra != null) {
      body.mergeIn(extra);
    }
    return body;
  }
}
