package io.iqa.sidecar.model;

import ai.onnxruntime.OrtException;
import io.iqa.sidecar.model.onnx.OnnxDevice;
import io.iqa.sidecar.model.onnx.OnnxModel;
import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;

/** An ONNX Runtime model (downloaded or built-in) as an {@link ImageModel}. */
final class OnnxImageModel implements ImageModel {

  private final OnnxModel model;
  private final OnnxDevice device;

  OnnxImageModel(OnnxModel model, OnnxDevice device) {
    this.model = model;
    this.device = device;
  }

  @Override
  public String name() {
    return model.name();
  }

  @Override
  public String backend() {
    return "onnxruntime";
  }

  @Override
  public String device() {
    return device.device();
  }

  @Override
  public String fallbackReason() {
    return device.fallbackReason();
  }

  @Override
  public long loadMs() {
    return model.loadMs();
  }

  @Override
  public String inputs() {
    var s = model.spec();
    return "float " + (s.nhwc() ? "[N," + s.height() + "," + s.width() + ",3]" : "[N,3," + s.height() + "," + s.width() + "]")
        + ", output " + s.outputMode().wireName();
  }

  @Override
  public List<Score> score(List<ImageInput> images) throws OrtException {
    List<BufferedImage> rgb = new ArrayList<>(images.size());
    images.forEach(i -> rgb.add(i.decodedRgb()));
    return model.score(rgb);
  }

  @Override
  public void close() {
    try {
      model.close();
    } catch (OrtException e) {
      throw new IllegalStateException("closing " + name() + ": " + e.getMessage(), e);
    } finally {
      device.options().close();
    }
  }
}
