package io.iqa.sidecar.model.onnx;

import java.nio.file.Path;

/**
 * How to feed and read one ONNX model: images are resized (bilinear) to {@code width} x
 * {@code height}, either stretched (aspect not kept) or, with {@code centerCrop}, scaled to cover
 * the target and cut to it around the centre; then scaled to 0..1, normalised per channel with {@code mean} and
 * {@code std} (RGB order, on the 0..1 scale), and laid out as NCHW or NHWC float tensors.
 *
 * @param file the .onnx file, or null when {@code model} holds the model itself
 * @param inputName the graph input to feed, or null for the model's only input
 * @param nhwc true for [N, H, W, 3], false for [N, 3, H, W]
 * @param model the model's bytes (the built-in models, made in memory), or null to read {@code file}
 */
public record OnnxModelSpec(String name, Path file, String inputName, boolean nhwc, int width, int height,
    boolean centerCrop, float[] mean, float[] std, OutputMode outputMode, byte[] model) {

  /** A model in a file. */
  public OnnxModelSpec(String name, Path file, String inputName, boolean nhwc, int width, int height,
      boolean centerCrop, float[] mean, float[] std, OutputMode outputMode) {
    this(name, file, inputName, nhwc, width, height, centerCrop, mean, std, outputMode, null);
  }

  public OnnxModelSpec {
    if ((file == null) == (model == null)) {
      throw new IllegalArgumentException(name + ": an ONNX model comes from a file or from bytes, one of them");
    }
    if (width <= 0 || height <= 0) {
      throw new IllegalArgumentException(name + ": input size must be positive, not " + width + "x" + height);
    }
    if (mean.length != 3 || std.length != 3) {
      throw new IllegalArgumentException(name + ": mean and std need 3 values (R, G, B)");
    }
    for (float s : std) {
      if (s <= 0) {
        throw new IllegalArgumentException(name + ": std values must be positive");
      }
    }
  }

  /** @return the same model under another name (a built-in entry named otherwise) */
  public OnnxModelSpec named(String newName) {
    return new OnnxModelSpec(newName, file, inputName, nhwc, width, height, centerCrop, mean, std, outputMode, model);
  }
}
