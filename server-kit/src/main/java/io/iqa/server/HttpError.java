package io.iqa.server;

import io.vertx.core.json.JsonObject;

/**
 * An HTTP error with its v1 code: raised once (a failed future or {@code ctx.fail}), rendered by
 * {@link ErrorRenderer} as {@code {"error": code, "message": text, ...extra}}. Both servers use it.
 */
public final class HttpError extends RuntimeException {

  private final int status;
  private final String code;
  private final JsonObject extra;
  private final Integer retryAfterS;

  public HttpError(int status, String code, String message) {
    this(status, code, message, null, null);
  }

  public HttpError(int status, String code, String message, JsonObject extra) {
    this(status, code, message, extra, null);
  }

  /** @param retryAfterS sent as {@code Retry-After} (503 overloaded), or null */
  public HttpError(int status, String code, String message, JsonObject extra, Integer retryAfterS) {
    super(message, null, false, false);
    this.status = status;
    this.code = code;
    this.extra = extra;
    this.retryAfterS = retryAfterS;
  }

  public static HttpError badRequest(String message) {
    return new HttpError(400, "bad_request", message);
  }

  /** 503 {@code overloaded} with {@code Retry-After}. */
  public static HttpError overloaded(String message, int retryAfterS) {
    return new HttpError(503, "overloaded", message, null, retryAfterS);
  }

  public int status() {
    return status;
  }

  public String code() {
    return code;
  }

  public Integer retryAfterS() {
    return retryAfterS;
  }

  public JsonObject body() {
    JsonObject body = new JsonObject().put("error", code).put("message", getMessage());
    if (extra != null) {
      body.mergeIn(extra);
    }
    return body;
  }
}
