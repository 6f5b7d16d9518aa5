package io.iqa.sidecar.model;

import io.iqa.protocol.ScoreScale;
import io.iqa.protocol.config.ConfigException;
import io.iqa.protocol.config.ConfigReader;
import io.iqa.sidecar.model.builtin.BrisqueModel;
import io.iqa.sidecar.model.builtin.TechnicalModels;
import io.iqa.sidecar.model.onnx.OnnxModelSpec;
import io.iqa.sidecar.model.onnx.OutputMode;
import io.iqa.sidecar.model.tf.TfModelSpec;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import io.vertx.core.json.JsonObject;

/**
 * One entry of the config's {@code models} list, checked before anything loads: its keys, their
 * types and ranges, and that its files exist. A wrong entry is a {@link ConfigException} naming
 * the key ({@code models[2].width}), before the sidecar asks for a lease or loads a model.
 *
 * @param json the entry as written, for the model's fingerprint
 */
public sealed interface ModelEntry {

  /** Where a model runs: the config's {@code device} and an entry's. */
  String DEVICE = "auto|cpu|cuda:\\d{1,2}";
  String DEVICE_RULE = "auto, cpu or cuda:N";

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

  /**
   * @param config the sidecar config (its {@code models} list and default {@code device})
   * @param baseDir relative model paths are resolved against it (the config file's folder)
   */
  static List<ModelEntry> parse(JsonObject config, Path baseDir) {
    ModelKeys.Models written = ConfigReader.read(config.encode(), ModelKeys.Models.DEFAULTS);
    if (written.models().isEmpty()) {
      throw new ModelConfigException("config has no 'models' list");
    }
    List<ModelEntry> out = new ArrayList<>();
    Set<String> names = new HashSet<>();
    for (int i = 0; i < written.models().size(); i++) {
      ModelKeys keys = written.models().get(i);
      if (!names.add(keys.name())) {
        throw new ModelConfigException("models[" + i + "].name: model name '" + keys.name() + "' is used twice");
      }
      try {
        out.add(keys.entry(written.device(), config.getJsonArray("models").getJsonObject(i).encode(), baseDir));
      } catch (ConfigException e) {
        throw new ModelConfigException("models[" + i + "]." + e.getMessage(), e);
      } catch (IllegalArgumentException bad) {
        throw new ModelConfigException("model " + keys.name() + ": " + bad.getMessage(), bad);
      }
    }
    return out;
  }
}
