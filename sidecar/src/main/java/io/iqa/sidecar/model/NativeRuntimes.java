package io.iqa.sidecar.model;

import io.iqa.sidecar.model.onnx.OnnxDevice;
import io.iqa.sidecar.model.builtin.BrisqueModel;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.opencv.global.opencv_imgcodecs;
import org.bytedeco.opencv.global.opencv_quality;

/**
 * The native runtimes a worker needs, loaded on threads of their own the moment the worker's JVM
 * starts: OpenCV (the decoder's libjpeg-turbo, the resizes, BRISQUE; tens of MB of shared
 * libraries), ONNX Runtime's environment (the built-in measures, ONNX models) and TensorFlow. Their loading then runs beside
 * the rest of the start (the connection to the front, the config, the other models) instead of
 * inside the first model's load. A model that needs one simply waits for it: JavaCPP's
 * {@link Loader}, ONNX Runtime's environment ({@link OnnxDevice#environment()}) and TensorFlow load once, under their own locks. The front
 * names the runtimes its config needs on the worker's command line ({@link #needed}).
 */
public final class NativeRuntimes {

  private static volatile Map<String, CompletableFuture<Long>> started;

  private NativeRuntimes() {
  }

  public static final String OPENCV = "opencv";
  public static final String ONNXRUNTIME = "onnxruntime";
  public static final String TENSORFLOW = "tensorflow";

  /** JavaCPP's list of build variants it tries before the plain one (OpenCV's preset asks for "-gpu"). */
  static final String JAVACPP_EXTENSION = "org.bytedeco.javacpp.platform.extension";

  /**
   * Call before anything loads a JavaCPP library. Without a GPU build of TensorFlow on the
   * classpath (the default build) there is no JavaCPP GPU build at all, so JavaCPP is told to try
   * only the plain one; otherwise OpenCV's first load probes for CUDA's libraries one by one, about
   * 250 ms of every worker's start. A value set with {@code -D} is kept.
   */
  public static void skipAbsentGpuBuilds() {
    if (System.getProperty(JAVACPP_EXTENSION) == null && !tensorflowGpuNatives()) {
      System.setProperty(JAVACPP_EXTENSION, "");
    }
  }

  /** TensorFlow's GPU natives (the -Pgpu build) live under c_api/linux-x86_64-gpu; the CPU jar has c_api/linux-x86_64. */
  public static boolean tensorflowGpuNatives() {
    return NativeRuntimes.class.getClassLoader().getResource("org/tensorflow/internal/c_api/linux-x86_64-gpu") != null;
  }

  /**
   * @return the runtimes {@code entries} need: OpenCV always (the decoder), ONNX Runtime for the
   *     built-in measures and ONNX models, TensorFlow for TensorFlow models
   */
  public static List<String> needed(List<ModelEntry> entries) {
    Set<String> out = new LinkedHashSet<>(List.of(OPENCV));
    for (ModelEntry e : entries) {
      if (e instanceof ModelEntry.Onnx || e instanceof ModelEntry.Builtin b && !b.model().equals(BrisqueModel.NAME)) {
        out.add(ONNXRUNTIME);
      } else if (e instanceof ModelEntry.Tf) {
        out.add(TENSORFLOW);
      }
    }
    return List.copyOf(out);
  }

  /**
   * Starts loading {@code runtimes} (names from {@link #needed}), each on a thread of its own, once
   * per process; an unknown name is ignored. Loading two at once on a small machine competes for its
   * cores, so only what the config needs is asked for.
   */
  public static synchronized void preload(List<String> runtimes) {
    if (started == null) {
      Map<String, CompletableFuture<Long>> m = new LinkedHashMap<>();
      for (String r : runtimes) {
        switch (r) {
          case OPENCV -> m.put(r, timed("natives-opencv", () -> {
            Loader.load(opencv_imgcodecs.class);
            Loader.load(opencv_quality.class);
          }));
          case ONNXRUNTIME -> m.put(r, timed("natives-onnxruntime", OnnxDevice::environment));
          case TENSORFLOW -> m.put(r, timed("natives-tensorflow", org.tensorflow.TensorFlow::version));
          default -> { }
        }
      }
      started = m;
    }
  }

  /** @return per runtime, how long its loading took (ms), once each has loaded; empty when never preloaded */
  public static Map<String, Long> loadMs() {
    Map<String, Long> out = new LinkedHashMap<>();
    Map<String, CompletableFuture<Long>> m = started;
    if (m != null) {
      m.forEach((name, f) -> out.put(name, f.join()));
    }
    return out;
  }

  private static CompletableFuture<Long> timed(String thread, Runnable load) {
    CompletableFuture<Long> f = new CompletableFuture<>();
    DaemonThreads.start(thread, () -> {
      long t0 = System.nanoTime();
      try {
        load.run();
      } catch (RuntimeException | LinkageError e) {
        // The model that needs it fails to load with the real error; this only measured the attempt.
      }
      f.complete((System.nanoTime() - t0) / 1_000_000);
    });
    return f;
  }
}
