package io.iqa.sidecar.model;

import io.iqa.sidecar.model.tf.TfModel;
import io.iqa.sidecar.model.tf.TfModelSpec;
import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;

/** A TensorFlow NIMA (batched) or MUSIQ (one encoded image per call) model as an {@link ImageModel}. */
final class TfImageModel implements ImageModel {

  private final TfModel model;

  TfImageModel(TfModel model) {
    this.model = model;
  }

  @Override
  public String name() {
    return model.name();
  }

  @Override
  public String backend() {
    return "tensorflow";
  }

  @Override
  public String device() {
    return model.device();
  }

  @Override
  public String fallbackReason() {
    return model.fallbackReason();
  }

  @Override
  public long loadMs() {
    return model.loadMs();
  }

  @Override
  public String inputs() {
    return model.spec().kind() == TfModelSpec.Kind.NIMA
        ? "float [N,224,224,3] '" + model.spec().inputName() + "' (x/127.5-1)"
        : "string scalar '" + model.spec().inputName() + "' (encoded image bytes)";
  }

  @Override
  public List<Score> score(List<ImageInput> images) {
    if (model.spec().kind() == TfModelSpec.Kind.NIMA) {
      List<BufferedImage> rgb = new ArrayList<>(images.size());
      images.forEach(i -> rgb.add(i.decodedRgb()));
      return model.scoreNima(rgb);
    }
    List<Score> scores = new ArrayList<>(images.size());
    for (ImageInput i : images) {
      scores.add(model.scoreMusiq(i.encoded()));
    }
    return scores;
  }

  @Override
  public void close() {
    model.close();
  }
}
