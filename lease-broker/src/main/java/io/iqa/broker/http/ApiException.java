package io.iqa.broker.http;

import io.vertx.core.json.JsonObject;

/**
 * An HTTP error with its wire code. Raised once, rendered by the router's failure handler as
 * {@code {"error": code, "message": text, ...extra}}.
 */
public final class ApiException extends RuntimeException {

  private final int status;
  private final String code;
  private final JsonObject extra;

  public ApiException(int status, String code, String message) {
    this(status, code, message, null);
  }

  public ApiException(int status, String code, String message, JsonObject extra) {
    super(message, null, false, false);
    this.status = status;
    this.code = code;
    this.extra = extra;
  }

  public static ApiException badRequest(String message) {
    return new ApiException(400, "bad_request", message);
  }

  public int status() {
    return status;
  }

  public String code() {
    return code;
  }

  public JsonObject body() {
    JsonObject body = new JsonObject().put("error", code).put("message", getMessage());
    if (extra != null) {
      body.mergeIn(extra);
    }
    return body;
  }
}
