package io.iqa.sidecar.model;

import io.iqa.protocol.ScoreScale;
import io.iqa.protocol.config.ConfigException;
import io.iqa.protocol.config.ConfigNode;
import io.iqa.sidecar.model.builtin.BrisqueModel;
import io.iqa.sidecar.model.builtin.Builtins;
import io.iqa.sidecar.model.builtin.TechnicalModels;
import io.iqa.sidecar.model.onnx.OnnxModelSpec;
import io.iqa.sidecar.model.onnx.OutputMode;
import io.iqa.sidecar.model.tf.TfModelSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * One entry of the config's {@code models} list, checked before anything loads: its keys, their
 * types and ranges, and that its files exist. A wrong entry is a {@link ConfigException} naming
 * the key ({@code models[2].width}), before the sidecar asks for a lease or loads a model.
 *
 * @param json the entry as written, for the model's fingerprint
 */
public sealed interface ModelEntry {

  String name();

  String device();

  String json();

  /** @return the scale the entry states ({@code range}, {@code higher_is_better}), or null for the model's own */
  ScoreScale scale();

  /** @return the config's backend: builtin, onnxruntime or tensorflow */
  default String backend() {
    return this instanceof Builtin ? "builtin" : this instanceof Onnx ? "onnxruntime" : "tensorflow";
  }

  /**
   * @return the scale known before anything loads: the entry's own, else the model's where the
   *     config says it (the built-ins, NIMA 1-10, MUSIQ 0-100, a sigmoid 0-1); null where only the
   *     loaded model tells (an ONNX distribution's width)
   */
  default ScoreScale knownScale() {
    if (scale() != null) {
      return scale();
    }
    if (this instanceof Builtin b) {
      return b.model().equals(BrisqueModel.NAME) ? BrisqueModel.SCALE : TechnicalModels.SCALE;
    }
    if (this instanceof Tf t) {
      return t.spec().scale();
    }
    Onnx o = (Onnx) this;
    return o.spec().outputMode() == OutputMode.SIGMOID ? new ScoreScale(0.0, 1.0, true)
        : o.spec().outputMode() == OutputMode.IDENTITY ? ScoreScale.UNKNOWN : null;
  }

  /** A built-in model of the default set (BRISQUE runs on CPU whatever the device says). */
  record Builtin(String name, String model, String device, String json, ScoreScale scale) implements ModelEntry {
  }

  /** Any ONNX model with one image input. */
  record Onnx(OnnxModelSpec spec, String device, long gpuMemLimitMb, String json, ScoreScale scale)
      implements ModelEntry {
    @Override
    public String name() {
      return spec.name();
    }
  }

  /** A NIMA or MUSIQ SavedModel. */
  record Tf(TfModelSpec spec, String json, ScoreScale scale) implements ModelEntry {
    @Override
    public String name() {
      return spec.name();
    }

    @Override
    public String device() {
      return spec.device();
    }
  }

  Pattern NAME = Pattern.compile("[A-Za-z0-9_.-]{1,64}");
  Pattern DEVICE = Pattern.compile("auto|cpu|cuda:\\d{1,2}");
  Set<String> COMMON = Set.of("name", "backend", "device", "range", "higher_is_better");
  Set<String> BUILTIN = Set.of("model");
  Set<String> ONNX = Set.of("file", "input_name", "layout", "width", "height", "resize", "mean", "std", "output",
      "gpu_mem_limit_mb");
  Set<String> TF = Set.of("kind", "dir", "tag", "signature", "input", "output", "allow_growth", "memory_fraction");

  /**
   * @param config the sidecar config (its {@code models} list and default {@code device})
   * @param baseDir relative model paths are resolved against it (the config file's folder)
   */
  static List<ModelEntry> parse(ConfigNode config, Path baseDir) {
    List<ConfigNode> entries = config.blocks("models");
    if (entries.isEmpty()) {
      throw new ModelConfigException("config has no 'models' list");
    }
    String defaultDevice = config.string("device", "auto", DEVICE, "auto, cpu or cuda:N");
    List<ModelEntry> out = new ArrayList<>();
    Set<String> names = new HashSet<>();
    for (ConfigNode e : entries) {
      String name = e.string("name", null, NAME, "[A-Za-z0-9_.-]{1,64}");
      if (name == null) {
        throw new ModelConfigException(e.name("name") + " is required");
      }
      if (!names.add(name)) {
        throw new ModelConfigException("model name '" + name + "' is used twice");
      }
      out.add(one(name, e, e.string("device", defaultDevice, DEVICE, "auto, cpu or cuda:N"), baseDir));
    }
    return out;
  }

  private static ModelEntry one(String name, ConfigNode e, String device, Path baseDir) {
    String backend = e.choice("backend", null, Set.of("builtin", "onnxruntime", "tensorflow"));
    if (backend == null) {
      throw new ModelConfigException(e.name("backend") + " is required: builtin, onnxruntime or tensorflow");
    }
    String json = new io.vertx.core.json.JsonObject(e.map()).encode();
    ScoreScale scale = scale(e);
    try {
      return switch (backend) {
        case "builtin" -> {
          e.known(union(BUILTIN));
          String model = e.choice("model", name, Set.copyOf(Builtins.NAMES));
          yield new Builtin(name, model, model.equals(BrisqueModel.NAME) ? "cpu" : device, json, scale);
        }
        case "onnxruntime" -> {
          e.known(union(ONNX));
          String layout = e.string("layout", "NCHW").toUpperCase(Locale.ROOT);
          if (!layout.equals("NCHW") && !layout.equals("NHWC")) {
            throw new ModelConfigException(e.name("layout") + " must be NCHW or NHWC, not " + layout);
          }
          String resize = e.choice("resize", "stretch", Set.of("stretch", "crop"));
          OnnxModelSpec spec = new OnnxModelSpec(name, existing(e, "file", baseDir), e.string("input_name", null),
              layout.equals("NHWC"), (int) e.integer("width", 224, 1, 8192), (int) e.integer("height", 224, 1, 8192),
              resize.equals("crop"), triple(e, "mean", 0f), triple(e, "std", 1f),
              OutputMode.parse(e.choice("output", "identity", outputModes())));
          yield new Onnx(spec, device, e.integer("gpu_mem_limit_mb", 0, 0, 1 << 22), json, scale);
        }
        default -> {
          e.known(union(TF));
          TfModelSpec.Kind kind = TfModelSpec.Kind.valueOf(e.choice("kind", null, Set.of("nima", "musiq")) == null
              ? missing(e, "kind", "nima or musiq") : e.string("kind", null).toUpperCase(Locale.ROOT));
          TfModelSpec base = TfModelSpec.of(name, kind, existing(e, "dir", baseDir));
          yield new Tf(new TfModelSpec(name, kind, base.dir(), e.string("tag", base.tag()),
              e.string("signature", base.signatureKey()), e.string("input", base.inputName()),
              e.string("output", base.outputName()), device, e.bool("allow_growth", true),
              e.number("memory_fraction", 0.0, 0, 1)), json, scale);
        }
      };
    } catch (IllegalArgumentException bad) {
      throw new ModelConfigException("model " + name + ": " + bad.getMessage(), bad);
    }
  }

  /** {@code range: [lo, hi]} and {@code higher_is_better}, or null when the entry states neither. */
  private static ScoreScale scale(ConfigNode e) {
    if (!e.has("range") && !e.has("higher_is_better")) {
      return null;
    }
    Object r = e.raw("range");
    Double lo = null;
    Double hi = null;
    if (r != null) {
      if (!(r instanceof List<?> list) || list.size() != 2 || !(list.get(0) instanceof Number a)
          || !(list.get(1) instanceof Number b) || a.doubleValue() >= b.doubleValue()) {
        throw new ModelConfigException(e.name("range") + " must be [low, high] with low < high, not " + r);
      }
      lo = a.doubleValue();
      hi = b.doubleValue();
    }
    return new ScoreScale(lo, hi, e.bool("higher_is_better", true));
  }

  private static Set<String> union(Set<String> own) {
    Set<String> all = new HashSet<>(COMMON);
    all.addAll(own);
    return all;
  }

  private static Set<String> outputModes() {
    Set<String> s = new HashSet<>();
    for (OutputMode m : OutputMode.values()) {
      s.add(m.wireName());
    }
    return s;
  }

  private static String missing(ConfigNode e, String key, String what) {
    throw new ModelConfigException(e.name(key) + " is required: " + what);
  }

  private static Path existing(ConfigNode e, String key, Path baseDir) {
    String value = e.string(key, null);
    if (value == null) {
      missing(e, key, "a path");
    }
    Path p = baseDir.resolve(value).normalize();
    if (!Files.exists(p)) {
      throw new ModelConfigException(e.name(key) + ": " + p + " does not exist");
    }
    return p;
  }

  private static float[] triple(ConfigNode e, String key, float def) {
    Object v = e.raw(key);
    if (v == null) {
      return new float[] {def, def, def};
    }
    if (!(v instanceof List<?> list) || list.size() != 3 || list.stream().anyMatch(x -> !(x instanceof Number))) {
      throw new ModelConfigException(e.name(key) + " must be 3 numbers (R, G, B), not " + v);
    }
    return new float[] {((Number) list.get(0)).floatValue(), ((Number) list.get(1)).floatValue(),
        ((Number) list.get(2)).floatValue()};
  }
}
