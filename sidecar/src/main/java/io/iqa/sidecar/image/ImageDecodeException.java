package io.iqa.sidecar.image;

import io.iqa.protocol.wire.ErrorCode;

/**
 * Image bytes that cannot be scored, with the reason as a kind the HTTP layer maps to its error
 * ({@link #errorCode()}, with its HTTP status) and a message a user can act on.
 */
public final class ImageDecodeException extends Exception {

  public enum Kind {
    /** No bytes at all. */
    EMPTY(ErrorCode.BAD_IMAGE),
    /** Not a format this decoder reads (JPEG, PNG, BMP, GIF, WebP). */
    UNSUPPORTED(ErrorCode.BAD_IMAGE),
    /** A known format whose data is truncated or corrupt. */
    CORRUPT(ErrorCode.BAD_IMAGE),
    /** More encoded bytes than allowed. */
    TOO_LARGE(ErrorCode.TOO_LARGE),
    /** More pixels declared in the header than allowed: refused before decoding (decompression bomb). */
    TOO_MANY_PIXELS(ErrorCode.TOO_LARGE),
    /** An image a requested model cannot score: too small, or too thin (ImageModel#tooSmall). */
    TOO_SMALL(ErrorCode.TOO_SMALL);

    private final ErrorCode code;

    Kind(ErrorCode code) {
      this.code = code;
    }
  }

  private final Kind kind;

  public ImageDecodeException(Kind kind, String message) {
    this(kind, message, null);
  }

  public ImageDecodeException(Kind kind, String message, Throwable cause) {
    super(message, cause);
    this.kind = kind;
  }

  public Kind kind() {
    return kind;
  }

  /** @return the v1 error: {@code bad_image}, {@code too_large} or {@code too_small} (its HTTP status is the code's) */
  public ErrorCode errorCode() {
    return kind.code;
  }
}
