package io.iqa.protocol.config;

/**
 * A configuration value is missing, malformed or out of range, or a key is unknown; the message
 * names the key by its path ({@code batching.max_queue_delay_ms}). Every program exits 2 on it,
 * before it takes a lease or loads a model.
 */
public class ConfigException extends RuntimeException {

  public ConfigException(String message) {
    super(message);
  }

  public ConfigException(String message, Throwable cause) {
    super(message, cause);
  }
}
