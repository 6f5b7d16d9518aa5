package io.iqa.sidecar.service;

import io.vertx.core.json.JsonObject;

/** An HTTP error with its v1 code, rendered once as {@code {"error": code, "message": text}}. */
public final class ServiceException extends RuntimeException {

  private final int status;
  private final String code;

  public ServiceException(int status, String code, String message) {
    super(message, null, false, false);
    this.status = status;
    this.code = code;
  }

  public int status() {
    return status;
  }

  public String code() {
    return code;
  }

  public JsonObject body() {
    return new JsonObject().put("error", code).put("message", getMessage());
  }
}
