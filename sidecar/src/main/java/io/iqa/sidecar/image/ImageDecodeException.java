package io.iqa.sidecar.image;

/**
 * Image bytes that cannot be scored, with the reason as a kind the HTTP layer maps to its error
 * ({@link #errorCode()}, {@link #httpStatus()}) and a message a user can act on.
 */
public final class ImageDecodeException extends Exception {

  public enum Kind {
    /** No bytes at all. */
    EMPTY("bad_image", 400),
    /** Not a format this decoder reads (JPEG, PNG, BMP, GIF, WebP). */
    UNSUPPORTED("bad_image", 400),
    /** A known format whose data is truncated or corrupt. */
    CORRUPT("bad_image", 400),
    /** More encoded bytes than allowed. */
    TOO_LARGE("too_large", 413),
    /** More pixels declared in the header than allowed: refused before decoding (decompression bomb). */
    TOO_MANY_PIXELS("too_large", 413);

    private final String code;
    private final int status;

    Kind(String code, int status) {
      this.code = code;
      this.status = status;
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

  /** @return the v1 wire error code: {@code bad_image} or {@code too_large} */
  public String errorCode() {
    return kind.code;
  }

  public int httpStatus() {
    return kind.status;
  }
}
