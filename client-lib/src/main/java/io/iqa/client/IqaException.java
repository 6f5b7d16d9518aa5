package io.iqa.client;

import io.iqa.protocol.wire.ErrorCode;

/** A call to the broker, the sidecar or the container fallback failed; the message says which and why. */
public class IqaException extends RuntimeException {

  private final int status;
  private final String code;

  public IqaException(String message) {
    this(message, 0, null, null);
  }

  public IqaException(String message, Throwable cause) {
    this(message, 0, null, cause);
  }

  public IqaException(String message, int status, String code, Throwable cause) {
    super(message, cause);
    this.status = status;
    this.code = code;
  }

  /** @return the HTTP status when a server answered, else 0 */
  public int status() {
    return status;
  }

  /** @return the v1 error code when a server answered with one, as it was sent, else null */
  public String code() {
    return code;
  }

  /** @return the v1 error code as a type, or null (no answer, or a code this version does not know) */
  public ErrorCode errorCode() {
    return ErrorCode.fromWire(code);
  }
}
