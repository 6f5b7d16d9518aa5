package io.iqa.sidecar.model.onnx;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import io.iqa.sidecar.model.Score;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One ONNX model loaded into an ONNX Runtime session: scores a batch of RGB images in one run.
 * Holds native memory until {@link #close()}; use after close fails.
 */
public final class OnnxModel implements AutoCloseable {

  private final OnnxModelSpec spec;
  private final OrtEnvironment env;
  private final OrtSession session;
  private final String inputName;
  private final long loadMs;
  private volatile boolean closed;

  /**
   * Loads the model. @throws OrtException when ONNX Runtime cannot load it; IllegalArgumentException
   * when its input does not match the spec (the message says what was expected and found)
   */
  public OnnxModel(OrtEnvironment env, OnnxModelSpec spec, OrtSession.SessionOptions options) throws OrtException {
    long t0 = System.nanoTime();
    this.spec = spec;
    this.env = env;
    this.session = env.createSession(spec.file().toString(), options);
    try {
      this.inputName = checkInput(session.getInputInfo());
    } catch (RuntimeException e) {
      session.close();
      throw e;
    }
    this.loadMs = (System.nanoTime() - t0) / 1_000_000;
  }

  public String name() {
    return spec.name();
  }

  public long loadMs() {
    return loadMs;
  }

  public OnnxModelSpec spec() {
    return spec;
  }

  /** Scores every image in one session run. @return one score per image, in order */
  public List<Score> score(List<BufferedImage> images) throws OrtException {
    if (closed) {
      throw new IllegalStateException("model " + spec.name() + " is closed");
    }
    if (images.isEmpty()) {
      return List.of();
    }
    int n = images.size();
    long[] shape = spec.nhwc()
        ? new long[] {n, spec.height(), spec.width(), 3}
        : new long[] {n, 3, spec.height(), spec.width()};
    FloatBuffer data = FloatBuffer.allocate(n * 3 * spec.width() * spec.height());
    for (BufferedImage img : images) {
      fill(data, resize(img));
    }
    data.rewind();
    try (OnnxTensor input = OnnxTensor.createTensor(env, data, shape);
        OrtSession.Result result = session.run(Map.of(inputName, input))) {
      OnnxTensor out = (OnnxTensor) result.get(0);
      long[] outShape = out.getInfo().getShape();
      FloatBuffer values = out.getFloatBuffer();
      int perItem = values.remaining() / n;
      if (perItem < 1 || values.remaining() % n != 0 || outShape.length == 0) {
        throw new IllegalStateException(spec.name() + ": output of shape " + java.util.Arrays.toString(outShape)
            + " does not hold one row per image of a batch of " + n);
      }
      List<Score> scores = new ArrayList<>(n);
      float[] row = new float[perItem];
      for (int i = 0; i < n; i++) {
        values.get(row);
        scores.add(toScore(row));
      }
      return scores;
    }
  }

  /** Pixels as floats: x / 255, minus mean, over std, per RGB channel, in the spec's layout. */
  void fill(FloatBuffer data, BufferedImage img) {
    int w = spec.width();
    int h = spec.height();
    int[] argb = img.getRGB(0, 0, w, h, null, 0, w);
    float[] mean = spec.mean();
    float[] std = spec.std();
    if (spec.nhwc()) {
      for (int p : argb) {
        data.put(((p >> 16 & 0xFF) / 255f - mean[0]) / std[0]);
        data.put(((p >> 8 & 0xFF) / 255f - mean[1]) / std[1]);
        data.put(((p & 0xFF) / 255f - mean[2]) / std[2]);
      }
    } else {
      int base = data.position();
      int plane = w * h;
      for (int i = 0; i < plane; i++) {
        int p = argb[i];
        data.put(base + i, ((p >> 16 & 0xFF) / 255f - mean[0]) / std[0]);
        data.put(base + plane + i, ((p >> 8 & 0xFF) / 255f - mean[1]) / std[1]);
        data.put(base + 2 * plane + i, ((p & 0xFF) / 255f - mean[2]) / std[2]);
      }
      data.position(base + 3 * plane);
    }
  }

  private BufferedImage resize(BufferedImage img) {
    if (img.getWidth() == spec.width() && img.getHeight() == spec.height()) {
      return img;
    }
    BufferedImage out = new BufferedImage(spec.width(), spec.height(), BufferedImage.TYPE_INT_RGB);
    Graphics2D g = out.createGraphics();
    try {
      g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
      if (spec.centerCrop()) {
        // Scale so the image covers the target, then draw it centred: the overflow is cut off.
        double scale = Math.max(spec.width() / (double) img.getWidth(), spec.height() / (double) img.getHeight());
        int w = (int) Math.ceil(img.getWidth() * scale);
        int h = (int) Math.ceil(img.getHeight() * scale);
        g.drawImage(img, (spec.width() - w) / 2, (spec.height() - h) / 2, w, h, null);
      } else {
        g.drawImage(img, 0, 0, spec.width(), spec.height(), null);
      }
    } finally {
      g.dispose();
    }
    return out;
  }

  private Score toScore(float[] row) {
    return switch (spec.outputMode()) {
      case IDENTITY -> new Score(row[0], null);
      case SIGMOID -> new Score(1 / (1 + Math.exp(-row[0])), null);
      case MEAN_OF_DISTRIBUTION -> Score.ofDistribution(row, false);
      case SOFTMAX_MEAN -> Score.ofDistribution(row, true);
    };
  }

  private String checkInput(Map<String, NodeInfo> inputs) {
    String name = spec.inputName();
    if (name == null) {
      if (inputs.size() != 1) {
        throw new IllegalArgumentException(spec.name() + ": the model has inputs " + inputs.keySet()
            + "; say which one takes the image (input_name)");
      }
      name = inputs.keySet().iterator().next();
    }
    NodeInfo info = inputs.get(name);
    if (info == null) {
      throw new IllegalArgumentException(spec.name() + ": expected an input named '" + name + "', the model has "
          + inputs.keySet());
    }
    if (!(info.getInfo() instanceof TensorInfo t) || t.getShape().length != 4) {
      throw new IllegalArgumentException(spec.name() + ": input '" + name + "' must be a rank-4 float tensor, found "
          + info.getInfo());
    }
    long channels = spec.nhwc() ? t.getShape()[3] : t.getShape()[1];
    if (channels != 3) {
      throw new IllegalArgumentException(spec.name() + ": input '" + name + "' has shape "
          + java.util.Arrays.toString(t.getShape()) + "; with layout " + (spec.nhwc() ? "NHWC" : "NCHW")
          + " its channel dimension must be 3");
    }
    return name;
  }

  @Override
  public void close() throws OrtException {
    if (!closed) {
      closed = true;
      session.close();
    }
  }
}
