package io.iqa.sidecar.model;

import io.iqa.protocol.ScoreScale;
import io.iqa.sidecar.image.Need;
import java.util.List;

/** A loaded model of any backend: scores a batch of images. Closing frees its native memory. */
public interface ImageModel extends AutoCloseable {

  /**
   * What a model is once loaded, for the log, the worker's READY and {@code /v1/models}.
   *
   * @param backend {@code onnxruntime}, {@code tensorflow} or {@code opencv}
   * @param device where it runs: {@code cpu} or {@code cuda:N}
   * @param fallbackReason why CUDA was not used although asked for, or null
   * @param loadMs how long loading took
   * @param inputs a short description of what the model takes
   */
  record Loaded(String name, String backend, String device, String fallbackReason, long loadMs, String inputs) {
  }

  Loaded loaded();

  default String name() {
    return loaded().name();
  }

  /** @return how many pixels it needs of a decoded image ({@link Need#NONE}: it reads the encoded bytes) */
  Need need();

  /**
   * @return why an image of {@code width} x {@code height} pixels is too small (or too thin) for this
   *     model, naming its minimum, or null when it can score it (most models resize to their input
   *     and take any size)
   */
  default String tooSmall(int width, int height) {
    return null;
  }

  /**
   * Refuses an image some of {@code models} cannot score. @throws ImageDecodeException {@code
   * too_small}, naming the first such model and its minimum
   */
  static void checkSize(List<ImageModel> models, int width, int height)
      throws io.iqa.sidecar.image.ImageDecodeException {
    for (ImageModel m : models) {
      String why = m.tooSmall(width, height);
      if (why != null) {
        throw new io.iqa.sidecar.image.ImageDecodeException(io.iqa.sidecar.image.ImageDecodeException.Kind.TOO_SMALL,
            m.name() + " cannot score a " + width + "x" + height + " image: " + why
                + " (ask for the other models with ?models=...)");
      }
    }
  }

  /** @return its scores' range and direction, unless its config entry says otherwise */
  ScoreScale scale();

  /** @return one score per image, in order; every image is known to decode (unless {@link #need()} is NONE) */
  List<Score> score(List<ImageInput> images) throws Exception;

  @Override
  void close();
}
