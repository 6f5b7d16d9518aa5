package io.iqa.sidecar.model.tf;

import io.iqa.protocol.ScoreScale;
import io.iqa.sidecar.image.Fit;
import io.iqa.sidecar.image.Need;
import io.iqa.sidecar.model.ImageInput;
import io.iqa.sidecar.model.ImageModel;
import io.iqa.sidecar.model.Score;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.tensorflow.SavedModelBundle;
import org.tensorflow.SessionFunction;
import org.tensorflow.Signature;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.NdArrays;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.FloatDataBuffer;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.proto.DataType;
import org.tensorflow.proto.GPUOptions;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TString;

/**
 * A NIMA or MUSIQ SavedModel loaded once through TensorFlow Java. NIMA scores a batch of decoded
 * images in one call (plain resize to 224x224, MobileNet scaling x/127.5-1, score = mean of the
 * 10-bin distribution, with its std); MUSIQ scores the original encoded bytes of one image. A
 * signature that does not match fails at load with what was expected and what was found.
 * Holds native memory until {@link #close()}.
 */
public final class TfModel implements ImageModel {

  private static final Logger LOG = LoggerFactory.getLogger(TfModel.class);
  public static final int NIMA_SIZE = 224;
  private static final Pattern CUDA = Pattern.compile("cuda:(\\d{1,2})");

  private final TfModelSpec spec;
  private final SavedModelBundle bundle;
  private final SessionFunction function;
  private final Loaded loaded;
  private final io.iqa.sidecar.model.ModelGate gate;

  /** @throws IllegalArgumentException when the export lacks the expected signature, input or output */
  public TfModel(TfModelSpec spec) {
    long t0 = System.nanoTime();
    this.spec = spec;
    Placed placed = place(spec);
    this.gate = new io.iqa.sidecar.model.ModelGate(spec.name());
    this.bundle = SavedModelBundle.loader(spec.dir().toString())
        .withTags(spec.tag())
        .withConfigProto(config(spec))
        .load();
    try {
      this.function = checkSignature();
    } catch (RuntimeException e) {
      bundle.close();
      throw e;
    }
    this.loaded = new Loaded(spec.name(), "tensorflow", placed.device(), placed.fallbackReason(),
        (System.nanoTime() - t0) / 1_000_000, inputs(spec));
  }

  /** {@code device}: {@code cpu} or {@code cuda:N}, where this model's ops can go (TensorFlow places them). */
  @Override
  public Loaded loaded() {
    return loaded;
  }

  private static String inputs(TfModelSpec spec) {
    return spec.kind() == TfModelSpec.Kind.NIMA
        ? "float [N,224,224,3] '" + spec.inputName() + "' (x/127.5-1)"
        : "string scalar '" + spec.inputName() + "' (encoded image bytes)";
  }

  /** NIMA: 224x224 pixels; MUSIQ reads the encoded bytes, so a request for it alone decodes nothing. */
  @Override
  public Need need() {
    return spec.kind() == TfModelSpec.Kind.NIMA ? Need.ofInput(NIMA_SIZE, NIMA_SIZE) : Need.NONE;
  }

  /** NIMA: the mean of a 1..10 distribution. MUSIQ: 0..100 (the KonIQ, SPAQ and PaQ-2-PiQ checkpoints). */
  @Override
  public ScoreScale scale() {
    return spec.scale();
  }

  @Override
  public List<Score> score(List<ImageInput> images) {
    try (io.iqa.sidecar.model.ModelGate.Call call = gate.enter()) {
      if (spec.kind() == TfModelSpec.Kind.NIMA) {
        return scoreNima(images);
      }
      List<Score> scores = new ArrayList<>(images.size());
      for (ImageInput i : images) {
        scores.add(scoreMusiq(i.encoded()));
      }
      return scores;
    }
  }

  public TfModelSpec spec() {
    return spec;
  }

  /** NIMA: one call for the whole batch. @return one score per image, in order */
  public List<Score> scoreNima(List<ImageInput> images) {
    List<float[]> rows;
    try (io.iqa.sidecar.model.ModelGate.Call call = gate.enter()) {
      rows = runNima(images);
    }
    List<Score> scores = new ArrayList<>(rows.size());
    for (float[] row : rows) {
      scores.add(Score.ofDistribution(row, false));
    }
    return scores;
  }

  /** MUSIQ: the encoded bytes go in as they came, as one scalar string. */
  public Score scoreMusiq(byte[] encoded) {
    try (io.iqa.sidecar.model.ModelGate.Call call = gate.enter();
        TString input = TString.tensorOfBytes(NdArrays.scalarOfObject(encoded));
        var result = function.call(Map.of(spec.inputName(), input))) {
      Tensor out = result.get(spec.outputName()).orElseThrow(() -> new IllegalStateException(
          spec.name() + ": the model returned no '" + spec.outputName() + "'"));
      if (!(out instanceof TFloat32 f) || f.size() < 1) {
        throw new IllegalStateException(spec.name() + ": '" + spec.outputName() + "' is not a float score");
      }
      return new Score(f.shape().numDimensions() == 0 ? f.getFloat() : f.getFloat(new long[f.shape().numDimensions()]),
          null);
    }
  }

  /** The raw [N,10] rows for a batch (exposed to tests that check the preprocessing end to end). */
  List<float[]> runNima(List<ImageInput> images) {
    ensureOpen();
    if (images.isEmpty()) {
      return List.of();
    }
    int n = images.size();
    // The pixels go straight into the tensor's native memory: no float[] to fill and copy again.
    try (TFloat32 input = TFloat32.tensorOf(Shape.of(n, NIMA_SIZE, NIMA_SIZE, 3))) {
      FloatDataBuffer data = input.asRawTensor().data().asFloats();
      long at = 0;
      for (ImageInput img : images) {
        at = preprocessNima(img.rgb(NIMA_SIZE, NIMA_SIZE, Fit.STRETCH), data, at);
      }
      return runNima(input, n);
    }
  }

  private List<float[]> runNima(TFloat32 input, int n) {
    try (var result = function.call(Map.of(spec.inputName(), input))) {
      Tensor out = result.get(spec.outputName()).orElseThrow(() -> new IllegalStateException(
          spec.name() + ": the model returned no '" + spec.outputName() + "'"));
      TFloat32 probs = (TFloat32) out;
      long[] shape = probs.shape().asArray();
      if (shape.length != 2 || shape[0] != n) {
        throw new IllegalStateException(spec.name() + ": expected '" + spec.outputName() + "' of shape [" + n
            + ", 10], got " + java.util.Arrays.toString(shape));
      }
      List<float[]> rows = new ArrayList<>(n);
      for (int i = 0; i < n; i++) {
        float[] row = new float[(int) shape[1]];
        for (int j = 0; j < row.length; j++) {
          row[j] = probs.getFloat(i, j);
        }
        rows.add(row);
      }
      return rows;
    }
  }

  /** 224x224 RGB (plain resize, aspect not kept) to floats x / 127.5 - 1 (MobileNet). */
  static long preprocessNima(byte[] rgb, FloatDataBuffer into, long at) {
    for (byte b : rgb) {
      into.setFloat((b & 0xFF) / 127.5f - 1f, at++);
    }
    return at;
  }

  private SessionFunction checkSignature() {
    Signature sig = null;
    StringBuilder found = new StringBuilder();
    for (Signature s : bundle.signatures()) {
      found.append(found.length() == 0 ? "" : "; ").append('\'').append(s.key()).append("': inputs ")
          .append(s.inputNames()).append(" -> outputs ").append(s.outputNames());
      if (s.key().equals(spec.signatureKey())) {
        sig = s;
      }
    }
    String expected = spec.kind() + " model '" + spec.name() + "' expects signature '" + spec.signatureKey()
        + "' with input '" + spec.inputName() + "' and output '" + spec.outputName() + "'";
    if (sig == null || !sig.inputNames().contains(spec.inputName()) || !sig.outputNames().contains(spec.outputName())) {
      throw new IllegalArgumentException(expected + "; " + spec.dir() + " has "
          + (found.length() == 0 ? "no signatures" : found));
    }
    Signature.TensorDescription in = sig.getInputs().get(spec.inputName());
    DataType want = spec.kind() == TfModelSpec.Kind.NIMA ? DataType.DT_FLOAT : DataType.DT_STRING;
    if (in.dataType != want) {
      throw new IllegalArgumentException(expected + " of type " + want + "; found " + in.dataType);
    }
    if (spec.kind() == TfModelSpec.Kind.NIMA) {
      long[] shape = in.shape.asArray();
      if (shape == null || shape.length != 4 || shape[1] != NIMA_SIZE || shape[2] != NIMA_SIZE || shape[3] != 3) {
        throw new IllegalArgumentException(expected + " of shape [-1, 224, 224, 3]; found " + in.shape);
      }
    }
    return bundle.function(spec.signatureKey());
  }

  private static ConfigProto config(TfModelSpec spec) {
    GPUOptions.Builder gpu = GPUOptions.newBuilder().setAllowGrowth(spec.allowGrowth());
    if (spec.memoryFraction() > 0) {
      gpu.setPerProcessGpuMemoryFraction(spec.memoryFraction());
    }
    ConfigProto.Builder config = ConfigProto.newBuilder().setGpuOptions(gpu);
    Matcher m = spec.device() == null ? null : CUDA.matcher(spec.device());
    if (m != null && m.matches()) {
      gpu.setVisibleDeviceList(m.group(1));
      config.setGpuOptions(gpu);
    } else if ("cpu".equals(spec.device())) {
      config.putDeviceCount("GPU", 0);
    }
    return config.build();
  }

  /**
   * TensorFlow Java cannot list devices, so the device is decided from what is installed: the GPU
   * natives (the -Pgpu build) and a visible NVIDIA device. Asking for CUDA without both runs on CPU
   * with a WARN and a fallback reason in {@link #loaded()}.
   */
  private static Placed place(TfModelSpec spec) {
    String d = spec.device() == null ? "auto" : spec.device();
    if (!d.equals("auto") && !d.equals("cpu") && !CUDA.matcher(d).matches()) {
      throw new IllegalArgumentException(spec.name() + ": device must be 'auto', 'cpu' or 'cuda:N', not '" + d + "'");
    }
    if (d.equals("cpu")) {
      return new Placed("cpu", null);
    }
    String missing = !io.iqa.sidecar.model.NativeRuntimes.tensorflowGpuNatives() ? "these TensorFlow natives are the CPU build (build with -Pgpu)"
        : !java.nio.file.Files.exists(java.nio.file.Path.of("/dev/nvidiactl")) ? "no NVIDIA device is visible"
        : null;
    if (missing == null) {
      return new Placed(d.equals("auto") ? "cuda:0" : d, null);
    }
    if (d.equals("auto")) {
      LOG.info("model {}: device auto -> cpu ({})", spec.name(), missing);
      return new Placed("cpu", null);
    }
    String why = "asked for " + d + " but " + missing;
    LOG.warn("model {}: {}; RUNNING ON CPU", spec.name(), why);
    return new Placed("cpu", why);
  }

  /** Where the model's ops go, and why not where it was asked (or null). */
  private record Placed(String device, String fallbackReason) {
  }

  private void ensureOpen() {
    if (gate.closed()) {
      throw new IllegalStateException("model " + spec.name() + " is closed");
    }
  }

  @Override
  public void close() {
    gate.closeWhenIdle(bundle::close);
  }
}
