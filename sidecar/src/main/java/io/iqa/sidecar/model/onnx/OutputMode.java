package io.iqa.sidecar.model.onnx;

import io.iqa.protocol.wire.WireEnum;
import io.iqa.protocol.wire.WireNames;

/** How a model's output row becomes a score. */
public enum OutputMode implements WireEnum {
  /** The first output value as it is. */
  IDENTITY,
  /** 1 / (1 + e^-x) of the first output value. */
  SIGMOID,
  /** The row is a distribution over scores 1..N: mean = sum(i * p_i), with its std. */
  MEAN_OF_DISTRIBUTION,
  /** The row holds logits over scores 1..N: softmax first, then as above. */
  SOFTMAX_MEAN;

  public static OutputMode parse(String s) {
    OutputMode m = WireNames.find(OutputMode.class, s);
    if (m == null) {
      throw new IllegalArgumentException("output mode must be " + WireNames.choices(OutputMode.class) + ", not '" + s + "'");
    }
    return m;
  }
}
