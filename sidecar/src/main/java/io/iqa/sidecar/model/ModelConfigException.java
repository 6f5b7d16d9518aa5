package io.iqa.sidecar.model;

import io.iqa.protocol.config.ConfigException;

/**
 * A model entry in the sidecar config is wrong, a model cannot be loaded, or a request names a
 * model that is not loaded; says which and why. A configuration error (exit 2).
 */
public class ModelConfigException extends ConfigException {
  public ModelConfigException(String message) {
    super(message);
  }

  public ModelConfigException(String message, Throwable cause) {
    super(message, cause);
  }
}
