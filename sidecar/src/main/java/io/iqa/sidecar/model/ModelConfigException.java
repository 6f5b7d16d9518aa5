package io.iqa.sidecar.model;

/** A model entry in the sidecar config is wrong, or its model cannot be loaded; says which and why. */
public class ModelConfigException extends RuntimeException {
  public ModelConfigException(String message) {
    super(message);
  }

  public ModelConfigException(String message, Throwable cause) {
    super(message, cause);
  }
}
