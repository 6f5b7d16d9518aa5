package io.iqa.client;

/**
 * An image file this process cannot read: missing ({@code not_found}), unreadable
 * ({@code unreadable}), or not a regular file ({@code not_a_file}: a folder, a FIFO, a device).
 * The file's own problem: never a reason to use the container fallback.
 */
public final class LocalFileException extends IqaException {

  LocalFileException(String message, String code, Throwable cause) {
    super(message, 0, code, cause);
  }
}
