package io.iqa.protocol.wire;

/**
 * A v1 document that breaks the contract: not an object, an unknown field, a field missing, of the
 * wrong type or out of range. The message names the field; servers answer it as 400
 * {@code bad_request}.
 */
public final class WireFormatException extends IllegalArgumentException {

  public WireFormatException(String message) {
    super(message);
  }
}
