package io.iqa.broker;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Finds the devices to arbitrate when none are configured: asks {@code nvidia-smi}; without it, one
 * device 0 of unknown size (whole-device leases only).
 */
public final class GpuDetector {

  private static final Logger LOG = LoggerFactory.getLogger(GpuDetector.class);
  public static final List<GpuDevice> FALLBACK = List.of(new GpuDevice(0, 0));

  private GpuDetector() {
  }

  /** @return the detected devices, or {@link #FALLBACK}; never throws */
  public static List<GpuDevice> detect(String nvidiaSmi) {
    ProcessBuilder pb = new ProcessBuilder(nvidiaSmi, "--query-gpu=index,memory.total",
        "--format=csv,noheader,nounits").redirectErrorStream(true);
    try {
      Process p = pb.start();
      byte[] out = p.getInputStream().readAllBytes();
      if (!p.waitFor(10, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        LOG.warn("nvidia-smi did not answer within 10 s; arbitrating one whole device 0");
        return FALLBACK;
      }
      if (p.exitValue() != 0) {
        LOG.warn("nvidia-smi exited {}: {}; arbitrating one whole device 0", p.exitValue(),
            new String(out, StandardCharsets.UTF_8).strip());
        return FALLBACK;
      }
      List<GpuDevice> gpus = parse(new String(out, StandardCharsets.UTF_8));
      if (gpus.isEmpty()) {
        LOG.warn("nvidia-smi listed no GPU; arbitrating one whole device 0");
        return FALLBACK;
      }
      LOG.info("detected GPUs with nvidia-smi: {}", gpus);
      return gpus;
    } catch (IOException e) {
      LOG.info("nvidia-smi not available ({}); arbitrating one device 0 of unknown size: whole-device leases only",
          e.getMessage());
      return FALLBACK;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return FALLBACK;
    }
  }

  /** Parses {@code index, memory.total} CSV lines (MiB); lines that do not parse are skipped. */
  static List<GpuDevice> parse(String csv) {
    List<GpuDevice> gpus = new ArrayList<>();
    for (String line : csv.split("\\R")) {
      String[] parts = line.split(",");
      if (parts.length != 2) {
        continue;
      }
      try {
        gpus.add(new GpuDevice(Integer.parseInt(parts[0].trim()), Integer.parseInt(parts[1].trim())));
      } catch (NumberFormatException e) {
        LOG.warn("ignoring nvidia-smi line '{}'", line);
      }
    }
    return gpus;
  }
}
