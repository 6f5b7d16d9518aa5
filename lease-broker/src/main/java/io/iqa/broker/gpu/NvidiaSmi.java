package io.iqa.broker.gpu;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The broker's one door to {@code nvidia-smi}: which devices there are ({@link #detect}, when none
 * are configured) and which processes use GPU memory now ({@link #computeApps}, for the observer).
 * Runs the executable named in the config ({@code nvidia_smi}, default from the PATH), 10 s at most.
 */
public final class NvidiaSmi {

  private static final Logger LOG = LoggerFactory.getLogger(NvidiaSmi.class);
  public static final List<GpuDevice> FALLBACK = List.of(new GpuDevice(0, 0));
  private static final long TIMEOUT_S = 10;

  /** A process that holds memory on a GPU. {@code usedMb} is null where nvidia-smi cannot say ({@code [N/A]}). */
  public record ComputeApp(int gpu, long pid, Integer usedMb) {
  }

  /** nvidia-smi is not installed, failed, or said something this class cannot read. */
  public static final class Unavailable extends Exception {
    private final boolean missing;

    Unavailable(String message, boolean missing) {
      super(message);
      this.missing = missing;
    }

    /** @return true when there is no such executable (no NVIDIA driver on this host) */
    public boolean missing() {
      return missing;
    }
  }

  private final String executable;

  public NvidiaSmi(String executable) {
    this.executable = executable;
  }

  /** @return the detected devices, or {@link #FALLBACK}; never throws */
  public List<GpuDevice> detect() {
    String out;
    try {
      out = run("--query-gpu=index,memory.total");
    } catch (Unavailable e) {
      if (e.missing()) {
        LOG.info("{}; arbitrating one device 0 of unknown size: whole-device leases only", e.getMessage());
      } else {
        LOG.warn("{}; arbitrating one whole device 0", e.getMessage());
      }
      return FALLBACK;
    }
    List<GpuDevice> gpus = new ArrayList<>();
    for (String[] f : rows(out, "\\d+", "\\d+")) {
      gpus.add(new GpuDevice(Integer.parseInt(f[0]), Integer.parseInt(f[1])));
    }
    if (gpus.isEmpty()) {
      LOG.warn("nvidia-smi listed no GPU; arbitrating one whole device 0");
      return FALLBACK;
    }
    LOG.info("detected GPUs with nvidia-smi: {}", gpus);
    return gpus;
  }

  /**
   * @return every process holding GPU memory, by device index (two queries: the devices' uuids, then
   *     the compute apps, which nvidia-smi names by uuid)
   * @throws Unavailable when nvidia-smi cannot be run or fails
   */
  public List<ComputeApp> computeApps() throws Unavailable {
    Map<String, Integer> indexByUuid = new HashMap<>();
    for (String[] f : rows(run("--query-gpu=index,uuid"), "\\d+", "\\S+")) {
      indexByUuid.put(f[1], Integer.parseInt(f[0]));
    }
    List<ComputeApp> apps = new ArrayList<>();
    // With no process on any GPU the answer is empty (older drivers print a "No running processes" line).
    for (String[] f : rows(run("--query-compute-apps=gpu_uuid,pid,used_memory"), "\\S+", "\\d+", ".*")) {
      Integer gpu = indexByUuid.get(f[0]);
      if (gpu == null) {
        LOG.debug("nvidia-smi lists a process on unknown gpu {}", f[0]);
        continue;
      }
      apps.add(new ComputeApp(gpu, Long.parseLong(f[1]), f[2].matches("\\d+") ? Integer.valueOf(f[2]) : null));
    }
    return apps;
  }

  /** @return MiB of memory in use on each device, by index (what {@code scripts/gpu-check} reports) */
  public Map<Integer, Integer> memoryUsedMb() throws Unavailable {
    Map<Integer, Integer> used = new HashMap<>();
    for (String[] f : rows(run("--query-gpu=index,memory.used"), "\\d+", "\\d+")) {
      used.put(Integer.parseInt(f[0]), Integer.parseInt(f[1]));
    }
    return used;
  }

  /**
   * Runs one query within {@link #TIMEOUT_S}, reading and waiting together: the output goes to a
   * file, not a pipe, so a wedged driver (an nvidia-smi that never exits, or a child of it that holds
   * the pipe) costs one timeout, never a thread blocked for ever.
   */
  private String run(String query) throws Unavailable {
    Path out = null;
    try {
      out = Files.createTempFile("nvidia-smi", ".out");
      ProcessBuilder pb = new ProcessBuilder(executable, query, "--format=csv,noheader,nounits")
          .redirectErrorStream(true).redirectOutput(out.toFile()).redirectInput(ProcessBuilder.Redirect.from(
              new java.io.File("/dev/null")));
      Process p = pb.start();
      if (!p.waitFor(TIMEOUT_S, TimeUnit.SECONDS)) {
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
        throw new Unavailable("nvidia-smi did not answer within " + TIMEOUT_S + " s (a wedged driver?)", false);
      }
      String text = Files.readString(out, StandardCharsets.UTF_8);
      if (p.exitValue() != 0) {
        throw new Unavailable("nvidia-smi " + query + " exited " + p.exitValue() + ": " + text.strip(), false);
      }
      return text;
    } catch (IOException e) {
      throw new Unavailable("nvidia-smi not available (" + e.getMessage() + ")", true);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new Unavailable("interrupted while nvidia-smi ran", false);
    } finally {
      if (out != null) {
        try {
          Files.deleteIfExists(out);
        } catch (IOException ignored) {
          // a temp file left in /tmp
        }
      }
    }
  }

  /** CSV rows whose fields match {@code fields} (one regex each); other lines are skipped. */
  private static List<String[]> rows(String csv, String... fields) {
    List<String[]> rows = new ArrayList<>();
    for (String line : csv.split("\\R")) {
      String[] parts = line.split(",");
      boolean ok = parts.length == fields.length;
      for (int i = 0; ok && i < parts.length; i++) {
        parts[i] = parts[i].trim();
        ok = parts[i].matches(fields[i]);
      }
      if (ok) {
        rows.add(parts);
      } else if (!line.isBlank() && !line.startsWith("No running")) {
        LOG.warn("ignoring nvidia-smi line '{}'", line);
      }
    }
    return rows;
  }
}
