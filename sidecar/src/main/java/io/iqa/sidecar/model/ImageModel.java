package io.iqa.sidecar.model;

import io.iqa.protocol.ScoreScale;
import io.iqa.sidecar.image.Need;
import java.util.List;

/** A loaded model of any backend: scores a batch of images. Closing frees its native memory. */
public interface ImageModel extends AutoCloseable {

  String name();

  /** @return {@code onnxruntime}, {@code tensorflow} or {@code opencv} */
  String backend();

  /** @return where it runs: {@code cpu} or {@code cuda:N} */
  String device();

  /** @return why CUDA was not used although asked for, or null */
  String fallbackReason();

  long loadMs();

  /** A short description of what the model takes, for {@code /v1/models}. */
  String inputs();

  /** @return how many pixels it needs of a decoded image ({@link Need#NONE}: it reads the encoded bytes) */
  Need need();

  /** @return its scores' range and direction, unless its config entry says otherwise */
  ScoreScale scale();

  /** @return one score per image, in order; every image is known to decode (unless {@link #need()} is NONE) */
  List<Score> score(List<ImageInput> images) throws Exception;

  @Override
  void close();
}
