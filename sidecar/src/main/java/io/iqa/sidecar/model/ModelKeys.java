package io.iqa.sidecar.model;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import io.iqa.protocol.ScoreScale;
import io.iqa.protocol.Text;
import io.iqa.protocol.config.ConfigException;
import io.iqa.protocol.config.Matches;
import io.iqa.protocol.config.Range;
import io.iqa.protocol.config.Required;
import io.iqa.sidecar.model.builtin.BrisqueModel;
import io.iqa.sidecar.model.builtin.Builtins;
import io.iqa.sidecar.model.onnx.OnnxModelSpec;
import io.iqa.sidecar.model.onnx.OutputMode;
import io.iqa.sidecar.model.tf.TfModelSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * An entry of the config's {@code models} list as written: the keys its {@code backend} takes,
 * read by the config reader. {@link #entry} finds its files and fills in what it leaves out.
 */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, property = "backend")
@JsonSubTypes({@JsonSubTypes.Type(value = ModelKeys.Builtin.class, name = "builtin"),
    @JsonSubTypes.Type(value = ModelKeys.Onnx.class, name = "onnxruntime"),
    @JsonSubTypes.Type(value = ModelKeys.Tf.class, name = "tensorflow")})
sealed interface ModelKeys {

  String NAME = "[A-Za-z0-9_.-]{1,64}";
  String DEVICE = ModelEntry.DEVICE;
  String DEVICE_RULE = ModelEntry.DEVICE_RULE;

  /** The {@code models} list and the two keys of the sidecar's config that apply to every model. */
  @JsonIgnoreProperties(ignoreUnknown = true) // the sidecar's other keys: SidecarOptions checks them
  record Models(List<ModelKeys> models, @Matches(value = DEVICE, what = DEVICE_RULE) String device,
      @Range(min = 1, max = 256) int maxBatch) {
    static final Models DEFAULTS = new Models(List.of(), "auto", ModelRegistry.DEFAULT_MAX_BATCH);
  }

  String name();

  String device();

  List<Double> range();

  Boolean higherIsBetter();

  /**
   * @param device the config's device, for an entry that names none
   * @param json the entry as written (the model's fingerprint)
   * @throws ConfigException naming the key (without the entry's path)
   */
  ModelEntry entry(String device, String json, Path baseDir);

  /** {@code range: [lo, hi]} and {@code higher_is_better}, or null when the entry states neither. */
  default ScoreScale scale() {
    if (range() == null && higherIsBetter() == null) {
      return null;
    }
    return new ScoreScale(range() == null ? null : range().get(0), range() == null ? null : range().get(1),
        higherIsBetter() == null || higherIsBetter());
  }

  private static void checkRange(List<Double> range) {
    if (range != null && (range.size() != 2 || range.contains(null) || !(range.get(0) < range.get(1)))) {
      throw new ConfigException("range must be [low, high] with low < high, not " + range);
    }
  }

  private static Path existing(String key, String value, Path baseDir) {
    Path p = baseDir.resolve(value).normalize();
    if (!Files.exists(p)) {
      throw new ConfigException(key + ": " + p + " does not exist");
    }
    return p;
  }

  private static float[] positive(float[] std, List<Double> written) {
    for (float s : std) {
      if (!(s > 0) || !Float.isFinite(s)) {
        throw new ConfigException("std must be 3 positive numbers, not " + written);
      }
    }
    return std;
  }

  private static float[] triple(String key, List<Double> values, float def) {
    if (values == null) {
      return new float[] {def, def, def};
    }
    if (values.size() != 3 || values.contains(null)) {
      throw new ConfigException(key + " must be 3 numbers (R, G, B), not " + values);
    }
    return new float[] {values.get(0).floatValue(), values.get(1).floatValue(), values.get(2).floatValue()};
  }

  /** A built-in model of the default set ({@code model}: which; its name unless told). */
  record Builtin(@Required @Matches(value = NAME, what = NAME) String name,
      @Matches(value = DEVICE, what = DEVICE_RULE) String device, List<Double> range, Boolean higherIsBetter,
      String model) implements ModelKeys {
    public Builtin {
      checkRange(range);
    }

    @Override
    public ModelEntry entry(String device, String json, Path baseDir) {
      String m = model != null ? model : name;
      if (!Builtins.NAMES.contains(m)) {
        throw new ConfigException("model must be one of '" + String.join("', '", Builtins.NAMES.stream().sorted()
            .toList()) + "', not \"" + Text.printable(m, 80) + "\"");
      }
      return new ModelEntry.Builtin(name, m, m.equals(BrisqueModel.NAME) ? "cpu" : this.device != null ? this.device
          : device, json, scale());
    }
  }

  /** Any ONNX model with one image input. */
  record Onnx(@Required @Matches(value = NAME, what = NAME) String name,
      @Matches(value = DEVICE, what = DEVICE_RULE) String device, List<Double> range, Boolean higherIsBetter,
      @Required("a path") String file, String inputName,
      @Matches(value = "(?i)nchw|nhwc", what = "NCHW or NHWC") String layout,
      @Range(min = 1, max = 8192) Integer width, @Range(min = 1, max = 8192) Integer height,
      @Matches(value = "stretch|crop", what = "stretch or crop") String resize, List<Double> mean, List<Double> std,
      OutputMode output, @Range(min = 0, max = 1 << 22) Long gpuMemLimitMb) implements ModelKeys {
    public Onnx {
      checkRange(range);
    }

    @Override
    public ModelEntry entry(String device, String json, Path baseDir) {
      OnnxModelSpec spec = new OnnxModelSpec(name, existing("file", file, baseDir), inputName,
          "nhwc".equalsIgnoreCase(layout), width == null ? 224 : width, height == null ? 224 : height,
          "crop".equals(resize), triple("mean", mean, 0f), positive(triple("std", std, 1f), std),
          output == null ? OutputMode.IDENTITY : output);
      return new ModelEntry.Onnx(spec, this.device != null ? this.device : device,
          gpuMemLimitMb == null ? 0 : gpuMemLimitMb, json, scale());
    }
  }

  /** A NIMA or MUSIQ SavedModel; its signature's names are the published ones unless told. */
  record Tf(@Required @Matches(value = NAME, what = NAME) String name,
      @Matches(value = DEVICE, what = DEVICE_RULE) String device, List<Double> range, Boolean higherIsBetter,
      @Required("nima or musiq") TfModelSpec.Kind kind, @Required("a path") String dir, String tag, String signature,
      String input, String output, Boolean allowGrowth, @Range(min = 0, max = 1) Double memoryFraction)
      implements ModelKeys {
    public Tf {
      checkRange(range);
    }

    @Override
    public ModelEntry entry(String device, String json, Path baseDir) {
      TfModelSpec base = TfModelSpec.of(name, kind, existing("dir", dir, baseDir));
      return new ModelEntry.Tf(new TfModelSpec(name, kind, base.dir(), tag != null ? tag : base.tag(),
          signature != null ? signature : base.signatureKey(), input != null ? input : base.inputName(),
          output != null ? output : base.outputName(), this.device != null ? this.device : device,
          allowGrowth == null || allowGrowth, memoryFraction == null ? 0 : memoryFraction), json, scale());
    }
  }
}
