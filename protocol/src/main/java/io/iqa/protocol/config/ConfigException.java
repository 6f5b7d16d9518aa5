package io.iqa.protocol.config;

import io.iqa.protocol.Text;

/**
 * A configuration value is missing, malformed or out of range, or a key is unknown; the message
 * names the key by its path ({@code batching.max_queue_delay_ms}). Every program exits 2 on it,
 * before it takes a lease or loads a model.
 */
public class ConfigException extends RuntimeException {

  /** @param message shown with its control characters escaped: it may quote a config's text */
  public ConfigException(String message) {
    super(Text.safe(message));
  }

  public ConfigException(String message, Throwable cause) {
    super(Text.safe(message), cause);
  }
}
