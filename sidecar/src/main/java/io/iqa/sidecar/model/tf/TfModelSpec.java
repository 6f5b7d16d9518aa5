package io.iqa.sidecar.model.tf;

import java.nio.file.Path;

/**
 * A TensorFlow SavedModel and how to call it. Signature key, input and output names default to
 * the published exports: NIMA (idealo) {@code image_quality}: {@code input_image} float
 * [-1,224,224,3] -> {@code quality_prediction} [-1,10]; MUSIQ (TF Hub) {@code serving_default}:
 * {@code image_bytes_tensor} scalar string -> {@code output_0}.
 *
 * @param device {@code auto}, {@code cpu} or {@code cuda:N}
 * @param memoryFraction TensorFlow's per_process_gpu_memory_fraction (0 = its default)
 */
public record TfModelSpec(String name, Kind kind, Path dir, String tag, String signatureKey, String inputName,
    String outputName, String device, boolean allowGrowth, double memoryFraction) {

  /** The two model families and their published signatures. */
  public enum Kind implements io.iqa.protocol.wire.WireEnum {
    NIMA("image_quality", "input_image", "quality_prediction"),
    MUSIQ("serving_default", "image_bytes_tensor", "output_0");

    final String signatureKey;
    final String inputName;
    final String outputName;

    Kind(String signatureKey, String inputName, String outputName) {
      this.signatureKey = signatureKey;
      this.inputName = inputName;
      this.outputName = outputName;
    }
  }

  /** A spec with the published signature and CPU/GPU defaults for its kind. */
  public static TfModelSpec of(String name, Kind kind, Path dir) {
    return new TfModelSpec(name, kind, dir, "serve", kind.signatureKey, kind.inputName, kind.outputName, "auto",
        true, 0);
  }

  public TfModelSpec withSignature(String key, String input, String output) {
    return new TfModelSpec(name, kind, dir, tag, key, input, output, device, allowGrowth, memoryFraction);
  }

  /** @return what its scores mean: NIMA's mean opinion 1-10, MUSIQ's 0-100 */
  public io.iqa.protocol.ScoreScale scale() {
    return kind() == Kind.NIMA ? new io.iqa.protocol.ScoreScale(1.0, 10.0, true) : io.iqa.protocol.ScoreScale.PERCENT;
  }
}
