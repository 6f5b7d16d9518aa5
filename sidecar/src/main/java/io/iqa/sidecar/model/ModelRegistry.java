package io.iqa.sidecar.model;

import ai.onnxruntime.OrtEnvironment;
import io.iqa.sidecar.model.builtin.TechnicalModels;
import io.iqa.sidecar.model.onnx.OnnxDevice;
import io.iqa.sidecar.model.onnx.OnnxModel;
import io.iqa.sidecar.model.onnx.OnnxModelSpec;
import io.iqa.sidecar.model.onnx.OutputMode;
import io.iqa.sidecar.model.tf.TfModel;
import io.iqa.sidecar.model.tf.TfModelSpec;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Loads every model of the config's {@code models} list once, in order, and closes them all on
 * {@link #close()}. Entries: {@code name}, {@code backend} ({@code builtin}, {@code onnxruntime},
 * {@code tensorflow}) and the backend's settings (see docs/sidecar.md). A bad entry, or a model
 * that does not load, is a {@link ModelConfigException} naming the entry; models loaded before it
 * are closed again.
 */
public final class ModelRegistry implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(ModelRegistry.class);
  public static final int DEFAULT_MAX_BATCH = 8;
  private static final Set<String> COMMON = Set.of("name", "backend", "device");
  private static final Set<String> BUILTIN = Set.of("model");
  private static final Set<String> ONNX = Set.of("file", "input_name", "layout", "width", "height", "resize", "mean",
      "std", "output", "gpu_mem_limit_mb");
  private static final Set<String> TF = Set.of("kind", "dir", "tag", "signature", "input", "output", "allow_growth",
      "memory_fraction");

  private final Map<String, ImageModel> models;
  private final Map<String, String> fingerprints;
  private final int maxBatch;
  private Path ownedDir;

  private ModelRegistry(Map<String, ImageModel> models, Map<String, String> fingerprints, int maxBatch) {
    this.models = models;
    this.fingerprints = fingerprints;
    this.maxBatch = maxBatch;
  }

  /**
   * Loads the models, writing the built-in ones into a temporary folder that this registry owns
   * and deletes on {@link #close()}.
   *
   * @param baseDir relative model paths are resolved against it (the config file's folder)
   */
  public static ModelRegistry load(JsonObject config, Path baseDir) {
    Path dir;
    try {
      dir = Files.createTempDirectory("iqa-builtin-models");
    } catch (java.io.IOException e) {
      throw new ModelConfigException("cannot create a folder for the built-in models: " + e.getMessage(), e);
    }
    try {
      ModelRegistry registry = load(config, baseDir, dir);
      registry.ownedDir = dir;
      return registry;
    } catch (RuntimeException e) {
      deleteTree(dir);
      throw e;
    }
  }

  /**
   * @param baseDir relative model paths are resolved against it (the config file's folder)
   * @param builtinDir where the built-in ONNX models are written (the caller owns it)
   */
  public static ModelRegistry load(JsonObject config, Path baseDir, Path builtinDir) {
    JsonArray entries = config.getJsonArray("models");
    if (entries == null || entries.isEmpty()) {
      throw new ModelConfigException("config has no 'models' list");
    }
    String defaultDevice = config.getString("device", "auto");
    int maxBatch = config.getInteger("max_batch", DEFAULT_MAX_BATCH);
    if (maxBatch < 1 || maxBatch > 256) {
      throw new ModelConfigException("max_batch must be 1..256, not " + maxBatch);
    }
    Map<String, ImageModel> loaded = new LinkedHashMap<>();
    Map<String, String> fingerprints = new LinkedHashMap<>();
    try {
      for (Object o : entries) {
        if (!(o instanceof JsonObject entry)) {
          throw new ModelConfigException("each 'models' entry must be an object, not " + o);
        }
        String name = entry.getString("name");
        if (name == null || !name.matches("[A-Za-z0-9_.-]{1,64}")) {
          throw new ModelConfigException("model name '" + name + "' must match [A-Za-z0-9_.-]{1,64}");
        }
        if (loaded.containsKey(name)) {
          throw new ModelConfigException("model name '" + name + "' is used twice");
        }
        ImageModel model = loadOne(name, entry, entry.getString("device", defaultDevice), baseDir, builtinDir);
        loaded.put(name, model);
        fingerprints.put(name, fingerprint(entry, model, baseDir));
        LOG.info("loaded model {} ({}, {}) in {} ms", name, model.backend(), model.device(), model.loadMs());
      }
    } catch (RuntimeException e) {
      loaded.values().forEach(ImageModel::close);
      throw e;
    }
    return new ModelRegistry(loaded, fingerprints, maxBatch);
  }

  /**
   * What makes a model's scores what they are: its config entry, where it runs, and the size and
   * modification time of every file it was loaded from. A cached score is only reused under the
   * same fingerprint, so replacing a model file never returns a stale score.
   */
  private static String fingerprint(JsonObject entry, ImageModel model, Path baseDir) {
    StringBuilder sb = new StringBuilder(entry.encode()).append('|').append(model.device());
    for (String key : List.of("file", "dir")) {
      String value = entry.getString(key);
      if (value != null) {
        Path p = baseDir.resolve(value).normalize();
        try (var walk = Files.walk(p)) {
          walk.filter(Files::isRegularFile).sorted().forEach(f -> {
            try {
              sb.append('|').append(p.relativize(f)).append(':').append(Files.size(f)).append(':')
                  .append(Files.getLastModifiedTime(f).toMillis());
            } catch (java.io.IOException e) {
              sb.append('|').append(f).append(":?");
            }
          });
        } catch (java.io.IOException e) {
          sb.append("|unreadable");
        }
      }
    }
    return ImageScorer.sha256(sb.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8)).substring(0, 16);
  }

  /** @return the model's fingerprint (16 hex digits), see {@link #fingerprint} */
  public String fingerprint(String name) {
    return fingerprints.get(name);
  }

  private static ImageModel loadOne(String name, JsonObject e, String device, Path baseDir, Path builtinDir) {
    String backend = e.getString("backend", "");
    try {
      switch (backend) {
        case "builtin" -> {
          check(name, e, BUILTIN);
          OnnxModelSpec spec = TechnicalModels.write(e.getString("model", name), builtinDir);
          spec = new OnnxModelSpec(name, spec.file(), spec.inputName(), spec.nhwc(), spec.width(), spec.height(),
              spec.centerCrop(), spec.mean(), spec.std(), spec.outputMode());
          return onnx(spec, device, 0);
        }
        case "onnxruntime" -> {
          check(name, e, ONNX);
          String layout = e.getString("layout", "NCHW").toUpperCase(Locale.ROOT);
          if (!layout.equals("NCHW") && !layout.equals("NHWC")) {
            throw new ModelConfigException("model " + name + ": layout must be NCHW or NHWC, not " + layout);
          }
          String resize = e.getString("resize", "stretch");
          if (!resize.equals("stretch") && !resize.equals("crop")) {
            throw new ModelConfigException("model " + name + ": resize must be 'stretch' or 'crop', not '" + resize + "'");
          }
          OnnxModelSpec spec = new OnnxModelSpec(name, existing(name, baseDir, e.getString("file"), "file"),
              e.getString("input_name"), layout.equals("NHWC"), e.getInteger("width", 224), e.getInteger("height", 224),
              resize.equals("crop"), triple(name, e, "mean", 0f), triple(name, e, "std", 1f), OutputMode.parse(e.getString("output", "identity")));
          return onnx(spec, device, e.getLong("gpu_mem_limit_mb", 0L));
        }
        case "tensorflow" -> {
          check(name, e, TF);
          TfModelSpec.Kind kind;
          try {
            kind = TfModelSpec.Kind.valueOf(e.getString("kind", "").toUpperCase(Locale.ROOT));
          } catch (IllegalArgumentException bad) {
            throw new ModelConfigException("model " + name + ": kind must be 'nima' or 'musiq', not '"
                + e.getString("kind") + "'");
          }
          TfModelSpec base = TfModelSpec.of(name, kind, existing(name, baseDir, e.getString("dir"), "dir"));
          TfModelSpec spec = new TfModelSpec(name, kind, base.dir(), e.getString("tag", base.tag()),
              e.getString("signature", base.signatureKey()), e.getString("input", base.inputName()),
              e.getString("output", base.outputName()), device, e.getBoolean("allow_growth", true),
              e.getDouble("memory_fraction", 0.0));
          return new TfImageModel(new TfModel(spec));
        }
        default -> throw new ModelConfigException("model " + name + ": backend must be builtin, onnxruntime or "
            + "tensorflow, not '" + backend + "'");
      }
    } catch (ModelConfigException ex) {
      throw ex;
    } catch (Exception ex) {
      throw new ModelConfigException("model " + name + " (" + backend + ") did not load: " + ex.getMessage(), ex);
    }
  }

  private static ImageModel onnx(OnnxModelSpec spec, String device, long memLimitMb) throws Exception {
    OnnxDevice d = OnnxDevice.choose(spec.name(), device, memLimitMb);
    try {
      return new OnnxImageModel(new OnnxModel(OrtEnvironment.getEnvironment(), spec, d.options()), d);
    } catch (Exception | Error ex) {
      d.options().close();
      throw ex;
    }
  }

  private static void check(String name, JsonObject e, Set<String> allowed) {
    for (String key : e.fieldNames()) {
      if (!COMMON.contains(key) && !allowed.contains(key)) {
        throw new ModelConfigException("model " + name + ": unknown key '" + key + "' for backend "
            + e.getString("backend") + " (allowed: " + allowed.stream().sorted().toList() + ")");
      }
    }
  }

  private static Path existing(String name, Path baseDir, String value, String key) {
    if (value == null) {
      throw new ModelConfigException("model " + name + ": '" + key + "' is required");
    }
    Path p = baseDir.resolve(value).normalize();
    if (!Files.exists(p)) {
      throw new ModelConfigException("model " + name + ": " + key + " " + p + " does not exist");
    }
    return p;
  }

  private static float[] triple(String name, JsonObject e, String key, float def) {
    JsonArray a = e.getJsonArray(key);
    if (a == null) {
      return new float[] {def, def, def};
    }
    if (a.size() != 3) {
      throw new ModelConfigException("model " + name + ": " + key + " needs 3 numbers (R, G, B)");
    }
    return new float[] {a.getNumber(0).floatValue(), a.getNumber(1).floatValue(), a.getNumber(2).floatValue()};
  }

  /** The models in config order. */
  public List<ImageModel> models() {
    return List.copyOf(models.values());
  }

  /**
   * @param names model names, or null/empty for all
   * @return the named models, in the given order
   * @throws ModelConfigException naming the unknown model and the loaded ones
   */
  public List<ImageModel> select(List<String> names) {
    if (names == null || names.isEmpty()) {
      return models();
    }
    List<ImageModel> chosen = new ArrayList<>();
    for (String n : names) {
      ImageModel m = models.get(n);
      if (m == null) {
        throw new ModelConfigException("unknown model '" + n + "'; loaded: " + List.copyOf(models.keySet()));
      }
      chosen.add(m);
    }
    return chosen;
  }

  public ImageModel get(String name) {
    return models.get(name);
  }

  public int maxBatch() {
    return maxBatch;
  }

  @Override
  public void close() {
    List<ImageModel> all = new ArrayList<>(models.values());
    models.clear();
    for (ImageModel m : all) {
      try {
        m.close();
      } catch (RuntimeException e) {
        LOG.warn("closing model {}: {}", m.name(), e.getMessage());
      }
    }
    if (ownedDir != null) {
      deleteTree(ownedDir);
      ownedDir = null;
    }
  }

  private static void deleteTree(Path dir) {
    try (var walk = Files.walk(dir)) {
      walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (java.io.IOException e) {
      LOG.warn("could not delete {}: {}", dir, e.getMessage());
    }
  }
}
