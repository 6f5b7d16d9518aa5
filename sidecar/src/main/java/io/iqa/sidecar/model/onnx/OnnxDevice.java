package io.iqa.sidecar.model.onnx;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtLoggingLevel;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.providers.OrtCUDAProviderOptions;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Session options for the device a model asks for: {@code cpu}, {@code cuda:N}, or {@code auto}
 * (CUDA device 0 when ONNX Runtime offers CUDA, else CPU). When CUDA is asked for and cannot be
 * had (the CPU natives, or the GPU natives on a machine without CUDA, whose {@code addCUDA} throws)
 * the model runs on CPU and the reason is logged as a WARN and kept in {@link #fallbackReason()}.
 */
public final class OnnxDevice {

  private static final Logger LOG = LoggerFactory.getLogger(OnnxDevice.class);
  private static final Pattern CUDA = Pattern.compile("cuda:(\\d{1,2})");

  private static OrtEnvironment environment;
  private static volatile boolean sharedThreads;

  private final OrtSession.SessionOptions options;
  private final String device;
  private final String fallbackReason;

  private OnnxDevice(OrtSession.SessionOptions options, String device, String fallbackReason) {
    this.options = options;
    this.device = device;
    this.fallbackReason = fallbackReason;
  }

  /**
   * @param requested {@code auto}, {@code cpu} or {@code cuda:N}
   * @param gpuMemLimitMb ONNX Runtime's CUDA arena limit, 0 for its default
   * @throws IllegalArgumentException for any other device name
   */
  public static OnnxDevice choose(String model, String requested, long gpuMemLimitMb) throws OrtException {
    if ("cpu".equals(requested)) {
      return new OnnxDevice(sessionOptions(), "cpu", null);
    }
    int deviceId;
    if ("auto".equals(requested)) {
      if (!OrtEnvironment.getAvailableProviders().contains(OrtProvider.CUDA)) {
        LOG.info("model {}: device auto -> cpu (this ONNX Runtime build has no CUDA provider)", model);
        return new OnnxDevice(sessionOptions(), "cpu", null);
      }
      deviceId = 0;
    } else {
      Matcher m = requested == null ? null : CUDA.matcher(requested);
      if (m == null || !m.matches()) {
        throw new IllegalArgumentException(model + ": device must be 'auto', 'cpu' or 'cuda:N', not '" + requested + "'");
      }
      deviceId = Integer.parseInt(m.group(1));
    }
    OrtSession.SessionOptions options = sessionOptions();
    try {
      OrtCUDAProviderOptions cuda = new OrtCUDAProviderOptions(deviceId);
      if (gpuMemLimitMb > 0) {
        cuda.add("gpu_mem_limit", Long.toString(gpuMemLimitMb * 1024 * 1024));
      }
      options.addCUDA(cuda);
      LOG.info("model {}: device cuda:{} (ONNX Runtime CUDA execution provider)", model, deviceId);
      return new OnnxDevice(options, "cuda:" + deviceId, null);
    } catch (OrtException | RuntimeException | LinkageError e) {
      options.close();
      String reason = "asked for cuda:" + deviceId + " but ONNX Runtime could not add the CUDA provider ("
          + String.valueOf(e.getMessage()).strip() + ")";
      LOG.warn("model {}: {}; RUNNING ON CPU", model, reason);
      return new OnnxDevice(sessionOptions(), "cpu", reason);
    }
  }

  /**
   * The process's one ONNX Runtime environment. Its sessions share one pool of threads, one per
   * core, that sleep when idle: each session's own pool would be a pool per model (the default set
   * has five), and their threads spin between runs, which on a two-core machine cost more CPU than
   * the models themselves while images were being decoded beside them.
   */
  public static synchronized OrtEnvironment environment() {
    if (environment == null) {
      try (OrtEnvironment.ThreadingOptions threads = new OrtEnvironment.ThreadingOptions()) {
        threads.setGlobalIntraOpNumThreads(Runtime.getRuntime().availableProcessors());
        threads.setGlobalInterOpNumThreads(1);
        threads.setGlobalSpinControl(false);
        environment = OrtEnvironment.getEnvironment(OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING, "iqa", threads);
        sharedThreads = true;
      } catch (IllegalStateException e) {
        // Someone in this process made the environment first, without a shared pool: each session keeps its own.
        LOG.warn("ONNX Runtime's environment was made elsewhere in this process: each model gets its own threads ({})",
            e.getMessage());
        environment = OrtEnvironment.getEnvironment();
      } catch (OrtException e) {
        throw new IllegalStateException("ONNX Runtime's environment did not start: " + e.getMessage(), e);
      }
    }
    return environment;
  }

  /** Options for a session that runs on the environment's shared threads (when it has them). */
  public static OrtSession.SessionOptions sessionOptions() throws OrtException {
    environment();
    OrtSession.SessionOptions options = new OrtSession.SessionOptions();
    if (sharedThreads) {
      options.disablePerSessionThreads();
    }
    return options;
  }

  /** CPU with the given session options. */
  public static OnnxDevice cpu(OrtSession.SessionOptions options) {
    return new OnnxDevice(options, "cpu", null);
  }

  public OrtSession.SessionOptions options() {
    return options;
  }

  /** @return the device the model really runs on: {@code cpu} or {@code cuda:N} */
  public String device() {
    return device;
  }

  /** @return why CUDA was not used although asked for, or null */
  public String fallbackReason() {
    return fallbackReason;
  }
}
