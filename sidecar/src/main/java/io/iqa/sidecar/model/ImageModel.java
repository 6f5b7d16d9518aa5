package io.iqa.sidecar.model;

import java.util.List;

/** A loaded model of any backend: scores a batch of images. Closing frees its native memory. */
public interface ImageModel extends AutoCloseable {

  String name();

  /** @return {@code onnxruntime} or {@code tensorflow} */
  String backend();

  /** @return where it runs: {@code cpu} or {@code cuda:N} */
  String device();

  /** @return why CUDA was not used although asked for, or null */
  String fallbackReason();

  long loadMs();

  /** A short description of what the model takes, for {@code /v1/models}. */
  String inputs();

  /** @return one score per image, in order */
  List<Score> score(List<ImageInput> images) throws Exception;

  @Override
  void close();
}
