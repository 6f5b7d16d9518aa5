package io.iqa.protocol.wire;

/**
 * Every {@code "error"} code a v1 answer carries ({@code {"error": code, "message": text}}), with
 * the HTTP status it is normally sent with. The servers raise them, the clients branch on them:
 * this is the list both sides agree on. The wire name is the lowercase constant name.
 */
public enum ErrorCode implements WireEnum {
  BAD_REQUEST(400),
  /** The image bytes are empty, not an image, truncated or corrupt. */
  BAD_IMAGE(400),
  /** The image is too small (or too thin) for a requested model; the message names the model and its minimum. */
  TOO_SMALL(400),
  UNAUTHORIZED(401),
  FORBIDDEN(403),
  NOT_FOUND(404),
  /** No lease is known for this token (never granted, or ended long ago). */
  UNKNOWN_LEASE(404),
  METHOD_NOT_ALLOWED(405),
  REQUEST_TIMEOUT(408),
  /** The GPU is held and the request did not wait (or waited out {@code wait_s}). */
  GPU_BUSY(409),
  /** The lease ended (expired, revoked, force-released); 503 from a sidecar that lost its own. */
  LEASE_LOST(410),
  TOO_LARGE(413),
  URI_TOO_LONG(414),
  UNSUPPORTED_MEDIA_TYPE(415),
  /** A client holds as many event streams as it may (or the broker does): close one, or retry later. */
  TOO_MANY_STREAMS(429),
  HEADERS_TOO_LARGE(431),
  INTERNAL(500),
  /** A model failed on this image (its own failure, not the image's): the other images are scored. */
  MODEL_FAILED(500),
  UNAVAILABLE(503),
  STORE_UNAVAILABLE(503),
  OVERLOADED(503),
  SHUTTING_DOWN(503),
  MODELS_UNAVAILABLE(503),
  GPU_UNAVAILABLE(503),
  WORKER_FAILED(503);

  private final int status;

  ErrorCode(int status) {
    this.status = status;
  }

  /** @return the HTTP status this code is normally sent with */
  public int status() {
    return status;
  }

  /** @return the code, or null for one this version does not know (a newer server's) */
  public static ErrorCode fromWire(String wire) {
    return WireNames.find(ErrorCode.class, wire);
  }
}
