package io.iqa.sidecar.model.onnx;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import io.iqa.protocol.ScoreScale;
import io.iqa.sidecar.image.Fit;
import io.iqa.sidecar.image.Need;
import io.iqa.sidecar.model.ImageInput;
import io.iqa.sidecar.model.ImageModel;
import io.iqa.sidecar.model.Score;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One ONNX model loaded into an ONNX Runtime session on the device {@link OnnxDevice} chose:
 * scores a batch of images in one run, each resized once to the spec's input size. Holds native
 * memory until {@link #close()}; use after close fails.
 */
public final class OnnxModel implements ImageModel {

  private final OnnxModelSpec spec;
  private final OrtEnvironment env;
  private final OnnxDevice device;
  private final OrtSession session;
  private final String inputName;
  private final int outputWidth;
  private final Loaded loaded;
  private final io.iqa.sidecar.model.ModelGate gate;
  private final ThreadLocal<FloatBuffer> inputs = new ThreadLocal<>();

  /**
   * Loads the model. @throws OrtException when ONNX Runtime cannot load it; IllegalArgumentException
   * when its input does not match the spec (the message says what was expected and found)
   */
  public OnnxModel(OrtEnvironment env, OnnxModelSpec spec, OnnxDevice device) throws OrtException {
    long t0 = System.nanoTime();
    this.spec = spec;
    this.env = env;
    this.device = device;
    this.gate = new io.iqa.sidecar.model.ModelGate(spec.name());
    OrtSession created = null;
    try {
      created = spec.model() != null ? env.createSession(spec.model(), device.options())
          : env.createSession(spec.file().toString(), device.options());
      this.inputName = checkInput(created.getInputInfo());
      this.outputWidth = outputWidth(created.getOutputInfo());
    } catch (OrtException | RuntimeException e) {
      // Nothing of it may stay behind in native memory: the session, and its options (they hold the
      // CUDA provider's configuration) which only close() frees otherwise.
      if (created != null) {
        try {
          created.close();
        } catch (OrtException ignored) {
          // the load's own failure is what the caller is told
        }
      }
      device.options().close();
      throw e;
    }
    this.session = created;
    this.loaded = new Loaded(spec.name(), "onnxruntime", device.device(), device.fallbackReason(),
        (System.nanoTime() - t0) / 1_000_000, inputs(spec));
  }

  /** On CPU with these session options (tests). */
  public OnnxModel(OrtEnvironment env, OnnxModelSpec spec, OrtSession.SessionOptions options) throws OrtException {
    this(env, spec, OnnxDevice.cpu(options));
  }

  @Override
  public Loaded loaded() {
    return loaded;
  }

  public OnnxModelSpec spec() {
    return spec;
  }

  private static String inputs(OnnxModelSpec spec) {
    return "float " + (spec.nhwc() ? "[N," + spec.height() + "," + spec.width() + ",3]"
        : "[N,3," + spec.height() + "," + spec.width() + "]") + ", output " + spec.outputMode().wireName();
  }

  @Override
  public Need need() {
    return Need.ofInput(spec.width(), spec.height());
  }

  /** A distribution's mean lies in 1..N; a sigmoid in 0..1; a plain output says nothing by itself. */
  @Override
  public ScoreScale scale() {
    return switch (spec.outputMode()) {
      case MEAN_OF_DISTRIBUTION, SOFTMAX_MEAN -> outputWidth > 0
          ? new ScoreScale(1.0, (double) outputWidth, true) : ScoreScale.UNKNOWN;
      case SIGMOID -> new ScoreScale(0.0, 1.0, true);
      case IDENTITY -> ScoreScale.UNKNOWN;
    };
  }

  /** Scores every image in one session run. @return one score per image, in order */
  @Override
  public List<Score> score(List<ImageInput> images) throws OrtException {
    try (io.iqa.sidecar.model.ModelGate.Call call = gate.enter()) {
      return run(images);
    }
  }

  private List<Score> run(List<ImageInput> images) throws OrtException {
    if (images.isEmpty()) {
      return List.of();
    }
    int n = images.size();
    long[] shape = spec.nhwc()
        ? new long[] {n, spec.height(), spec.width(), 3}
        : new long[] {n, 3, spec.height(), spec.width()};
    FloatBuffer data = inputBuffer(n * 3 * spec.width() * spec.height());
    for (ImageInput img : images) {
      fill(data, img.rgb(spec.width(), spec.height(), spec.centerCrop() ? Fit.COVER : Fit.STRETCH));
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

  /**
   * The calling thread's input buffer, at least {@code floats} long: direct, so ONNX Runtime reads it
   * in place (a heap buffer it copies again), and reused from call to call while big enough (each
   * model's calls run on its own thread; the tensor over it is closed before the call returns).
   */
  private FloatBuffer inputBuffer(int floats) {
    FloatBuffer b = inputs.get();
    if (b == null || b.capacity() < floats) {
      b = ByteBuffer.allocateDirect(floats * Float.BYTES).order(ByteOrder.nativeOrder()).asFloatBuffer();
      inputs.set(b);
    }
    b.clear();
    b.limit(floats);
    return b;
  }

  /** Pixels (interleaved RGB) as floats: x / 255, minus mean, over std, per channel, in the spec's layout. */
  void fill(FloatBuffer data, byte[] rgb) {
    int plane = spec.width() * spec.height();
    float[] mean = spec.mean();
    float[] std = spec.std();
    if (spec.nhwc()) {
      for (int i = 0; i < plane * 3; i += 3) {
        data.put(((rgb[i] & 0xFF) / 255f - mean[0]) / std[0]);
        data.put(((rgb[i + 1] & 0xFF) / 255f - mean[1]) / std[1]);
        data.put(((rgb[i + 2] & 0xFF) / 255f - mean[2]) / std[2]);
      }
    } else {
      int base = data.position();
      for (int i = 0, p = 0; i < plane; i++, p += 3) {
        data.put(base + i, ((rgb[p] & 0xFF) / 255f - mean[0]) / std[0]);
        data.put(base + plane + i, ((rgb[p + 1] & 0xFF) / 255f - mean[1]) / std[1]);
        data.put(base + 2 * plane + i, ((rgb[p + 2] & 0xFF) / 255f - mean[2]) / std[2]);
      }
      data.position(base + 3 * plane);
    }
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

  /** @return the width of the output's last dimension (the distribution's length), 0 when not fixed */
  private static int outputWidth(Map<String, NodeInfo> outputs) {
    NodeInfo first = outputs.values().iterator().next();
    if (first.getInfo() instanceof TensorInfo t && t.getShape().length >= 2) {
      long last = t.getShape()[t.getShape().length - 1];
      return last > 0 && last < 1_000_000 ? (int) last : 0;
    }
    return 0;
  }

  @Override
  public void close() {
    gate.closeWhenIdle(() -> {
      try {
        session.close();
      } catch (OrtException e) {
        throw new IllegalStateException("closing " + name() + ": " + e.getMessage(), e);
      } finally {
        device.options().close();
      }
    });
  }
}
