package io.iqa.sidecar.model;

import io.iqa.protocol.ScoreScale;
import io.iqa.protocol.Sha256;
import io.iqa.protocol.config.ConfigReader;
import io.iqa.sidecar.model.builtin.BrisqueModel;
import io.iqa.sidecar.model.builtin.TechnicalModels;
import io.iqa.sidecar.model.onnx.OnnxDevice;
import io.iqa.sidecar.model.onnx.OnnxModel;
import io.iqa.sidecar.model.onnx.OnnxModelSpec;
import io.iqa.sidecar.model.tf.TfModel;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Loads every model of the config's {@code models} list once (in parallel, kept in config order), and closes them all on
 * {@link #close()}. Entries: {@code name}, {@code backend} ({@code builtin}, {@code onnxruntime},
 * {@code tensorflow}) and the backend's settings (see docs/sidecar.md). A bad entry, or a model
 * that does not load, is a {@link ModelConfigException} naming the entry; models loaded before it
 * are closed again.
 */
public final class ModelRegistry implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(ModelRegistry.class);
  public static final int DEFAULT_MAX_BATCH = 8;

  private final Map<String, ImageModel> models;
  private final Map<String, String> fingerprints;
  private final Map<String, ScoreScale> scales;
  private final int maxBatch;

  private ModelRegistry(Map<String, ImageModel> models, Map<String, String> fingerprints,
      Map<String, ScoreScale> scales, int maxBatch) {
    this.models = models;
    this.fingerprints = fingerprints;
    this.scales = scales;
    this.maxBatch = maxBatch;
  }

  /**
   * Checks every entry of the config's {@code models} list (keys, types, files) without loading
   * anything: what the sidecar does before it asks for a lease.
   *
   * @throws ModelConfigException naming the entry and the key
   */
  public static List<ModelEntry> check(JsonObject config, Path baseDir) {
    return ModelEntry.parse(config, baseDir);
  }

  /**
   * @return a copy of {@code config} whose models all run on {@code device} ({@code cpu}, or the
   *     leased {@code cuda:N}); a model configured for {@code cpu} stays there
   */
  public static JsonObject placed(JsonObject config, String device) {
    JsonObject copy = config.copy();
    // A model (or the whole set) configured for CPU stays on CPU under a lease: a lease taken
    // because lease.required is set must not move it to the GPU.
    boolean toCpu = "cpu".equals(device);
    if (toCpu || !"cpu".equals(copy.getValue("device"))) {
      copy.put("device", device);
    }
    for (Object o : copy.getJsonArray("models", new io.vertx.core.json.JsonArray())) {
      if (o instanceof JsonObject m && m.containsKey("device") && (toCpu || !"cpu".equals(m.getValue("device")))) {
        m.put("device", device);
      }
    }
    return copy;
  }

  /**
   * Loads the models (the built-in ones are made in memory).
   *
   * @param baseDir relative model paths are resolved against it (the config file's folder)
   */
  public static ModelRegistry load(JsonObject config, Path baseDir) {
    List<ModelEntry> entries = check(config, baseDir);
    int maxBatch = ConfigReader.read(config.encode(), ModelKeys.Models.DEFAULTS).maxBatch();
    // Each model loads on a thread of its own (up to the cores): ONNX Runtime's session set-up,
    // TensorFlow's graph import and OpenCV's model files do not wait for one another.
    int threads = Math.max(1, Math.min(entries.size(), Runtime.getRuntime().availableProcessors()));
    ExecutorService pool = Executors.newFixedThreadPool(threads, DaemonThreads.factory("model-load"));
    List<Future<ImageModel>> futures = new ArrayList<>();
    try {
      entries.forEach(e -> futures.add(pool.submit(() -> loadOne(e))));
    } finally {
      pool.shutdown();
    }
    Map<String, ImageModel> loaded = new LinkedHashMap<>();
    Map<String, String> fingerprints = new LinkedHashMap<>();
    Map<String, ScoreScale> scales = new LinkedHashMap<>();
    RuntimeException failed = null;
    for (int i = 0; i < entries.size(); i++) {
      ModelEntry entry = entries.get(i);
      ImageModel model;
      try {
        model = loaded(entry, futures.get(i));
      } catch (RuntimeException e) {
        failed = failed == null ? e : failed; // the first in config order is what the caller hears
        continue;
      }
      loaded.put(entry.name(), model);
      if (failed == null) {
        fingerprints.put(entry.name(), fingerprint(entry, model, baseDir));
        scales.put(entry.name(), entry.knownScale() != null ? entry.knownScale() : model.scale());
        LOG.info("loaded model {} ({}, {}) in {} ms", entry.name(), model.loaded().backend(), model.loaded().device(), model.loaded().loadMs());
      }
    }
    if (failed != null) {
      loaded.values().forEach(ImageModel::close);
      throw failed;
    }
    return new ModelRegistry(loaded, fingerprints, scales, maxBatch);
  }

  /** Waits for one model's load; an interrupt does not end the wait (what it loads must be closed). */
  private static ImageModel loaded(ModelEntry entry, Future<ImageModel> f) {
    boolean interrupted = false;
    try {
      while (true) {
        try {
          return f.get();
        } catch (InterruptedException e) {
          interrupted = true;
        } catch (ExecutionException e) {
          throw e.getCause() instanceof RuntimeException re ? re
              : new ModelConfigException("model " + entry.name() + " did not load: " + e.getCause(), e.getCause());
        }
      }
    } finally {
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /**
   * What makes a model's scores what they are: its config entry, where it runs, and the size and
   * modification time of every file it was loaded from. A cached score is only reused under the
   * same fingerprint, so replacing a model file never returns a stale score.
   */
  private static String fingerprint(ModelEntry me, ImageModel model, Path baseDir) {
    JsonObject entry = new JsonObject(me.json());
    StringBuilder sb = new StringBuilder(me.json()).append('|').append(model.loaded().device());
    if (model instanceof OnnxModel o && o.spec().model() != null) {
      // A graph made in memory (a built-in measure) that changes in a version must not answer from old scores.
      sb.append('|').append(Sha256.hex(o.spec().model()));
    }
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
    return Sha256.hex(sb.toString()).substring(0, 16);
  }

  /** @return what the model's scores mean: its entry's {@code range} and direction, else the model's own */
  public ScoreScale scale(String name) {
    return scales.get(name);
  }

  /** @return the model's fingerprint (16 hex digits), see {@link #fingerprint} */
  public String fingerprint(String name) {
    return fingerprints.get(name);
  }

  private static ImageModel loadOne(ModelEntry entry) {
    try {
      if (entry instanceof ModelEntry.Builtin b) {
        if (b.model().equals(BrisqueModel.NAME)) {
          return BrisqueModel.load(b.name());
        }
        return onnx(TechnicalModels.spec(b.model()).named(b.name()), b.device(), 0);
      }
      if (entry instanceof ModelEntry.Onnx o) {
        return onnx(o.spec(), o.device(), o.gpuMemLimitMb());
      }
      return new TfModel(((ModelEntry.Tf) entry).spec());
    } catch (ModelConfigException ex) {
      throw ex;
    } catch (Exception ex) {
      throw new ModelConfigException("model " + entry.name() + " did not load: " + ex.getMessage(), ex);
    }
  }

  private static ImageModel onnx(OnnxModelSpec spec, String device, long memLimitMb) throws Exception {
    OnnxDevice d = OnnxDevice.choose(spec.name(), device, memLimitMb);
    try {
      return new OnnxModel(OnnxDevice.environment(), spec, d);
    } catch (Exception | Error ex) {
      d.options().close();
      throw ex;
    }
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
  }
}
