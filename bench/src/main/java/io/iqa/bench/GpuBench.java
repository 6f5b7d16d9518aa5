package io.iqa.bench;

import io.iqa.broker.LocalBroker;
import ch.qos.logback.classic.Level;
import io.iqa.broker.gpu.NvidiaSmi;
import io.iqa.sidecar.model.builtin.Builtins;
import io.iqa.sidecar.samples.SampleImages;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * What {@code scripts/gpu-check} runs on a host with an NVIDIA GPU: a real broker and a real
 * sidecar process with the default set and the NIMA test model on {@code cuda:0}; the device
 * {@code /health} reports, images/s on the GPU and then on the CPU for the same images, and the
 * memory in use on the GPU (nvidia-smi) before the start, while serving and after {@code /shutdown}.
 */
@Command(name = "gpu",
    description = "GPU check (scripts/gpu-check): images/s on cuda:0 vs CPU, VRAM before, serving, after /shutdown.")
final class GpuBench extends BenchCommand {

  @Mixin SharedModels shared;

  @Option(names = "--gpu", defaultValue = "0", description = "the GPU index to check") int gpu;
  @Option(names = "--images", defaultValue = "300", description = "images scored per device") int images;
  @Option(names = "--clients", defaultValue = "8", description = "concurrent clients") int clients;
  @Option(names = "--nvidia-smi", defaultValue = "nvidia-smi", description = "the nvidia-smi to ask") String nvidiaSmi;
  @Option(names = "--allow-no-gpu", description = "run the same steps where nvidia-smi is missing (to check the "
      + "check itself: the models fall back to CPU and the VRAM rows say so)") boolean allowNoGpu;

  private final AtomicInteger seq = new AtomicInteger();

  @Override
  public Integer call() throws Exception {
    NvidiaSmi smi = new NvidiaSmi(nvidiaSmi);
    String before = vram(smi);
    if (before.startsWith("n/a") && !allowNoGpu) {
      System.err.println("gpu-check: " + before + "; this check is for a host with an NVIDIA GPU and its driver "
          + "(--allow-no-gpu runs it anyway, on CPU)");
      return 2;
    }
    BenchCommand.quietLogs(Level.WARN);
    JsonArray models = Builtins.entries().copy();
    Path nima = shared.nima();
    boolean withNima = shared.hasNima();
    if (withNima) {
      models.add(shared.nimaEntry());
    }
    List<byte[]> pool = new ArrayList<>();
    for (int i = 0; i < 16; i++) {
      pool.add(jpeg());
    }
    Path work = Files.createTempDirectory("bench-gpu");
    Vertx vertx = Vertx.vertx();
    ResultTable t = new ResultTable("GPU check: the default set" + (withNima ? " and NIMA" : "") + " on cuda:" + gpu
        + " vs CPU")
        .note("a real broker (memory store, its GPUs from nvidia-smi) and a real sidecar process (front + worker) "
            + "leasing gpu " + gpu + " with device cuda:0 (the worker sees the leased GPU as device 0)")
        .note("models: " + String.join(", ", names(models)) + (withNima ? "" : " (no NIMA: " + nima + " absent)"))
        .note(images + " distinct 1920x1080 JPEGs per device, " + clients + " concurrent clients, after 16 warm-up "
            + "images; then the same on a sidecar with device cpu")
        .note("VRAM: nvidia-smi --query-gpu=index,memory.used, whole device (other programs included)")
        .row("VRAM in use before the start", before, "", "");
    try {
      String brokerUrl = LocalBroker.start(vertx, 0, new JsonObject().put("nvidia_smi", nvidiaSmi));
      double onGpu;
      try (SidecarRun s = SidecarRun.start(config(models, "cuda:0", brokerUrl), work)) {
        JsonObject health = get(s.url + "/health");
        t.row("/health device", health.getString("device") + fallbacks(health), "cuda", "");
        t.row("devices by model", devices(get(s.url + "/v1/models")), "", "");
        onGpu = score(s, pool);
        t.row("VRAM in use while serving", vram(smi), "", "")
            .row("processes on the GPU while serving", apps(smi), "", "")
            .row("broker while serving", broker(get(brokerUrl + "/v1/gpu/status")), "", "");
        shutdown(s);
        t.row("VRAM in use after /shutdown", vram(smi), "about the first row", "");
      }
      double onCpu;
      try (SidecarRun s = SidecarRun.start(config(models, "cpu", null), work)) {
        onCpu = score(s, pool);
      }
      t.row("images/s on cuda:" + gpu, String.format("%.1f", onGpu), "", "")
          .row("images/s on CPU", String.format("%.1f", onCpu), "", "")
          .row("GPU / CPU", String.format("%.2f", onGpu / onCpu), "> 1", ResultTable.check(onGpu / onCpu, 1, true));
      t.printAndWrite(results.or("gpu.md"));
      return 0;
    } finally {
      vertx.close().await(60, TimeUnit.SECONDS);
    }
  }

  private JsonObject config(JsonArray models, String device, String brokerUrl) {
    JsonObject c = new JsonObject().put("models", models).put("device", device).put("port", 0);
    if (brokerUrl != null) {
      c.put("broker", new JsonObject().put("url", brokerUrl))
          .put("lease", new JsonObject().put("owner", "iqa-gpu-check").put("gpu", gpu).put("wait_s", 30).put("ttl_s", 60));
    }
    return c;
  }

  /** {@code images} distinct images (a counter after the JPEG's end marker) from {@code clients} threads. */
  private double score(SidecarRun s, List<byte[]> pool) throws Exception {
    for (byte[] warm : pool) {
      s.infer(distinct(warm));
    }
    ExecutorService threads = Executors.newFixedThreadPool(clients);
    try {
      List<Future<?>> done = new ArrayList<>();
      long t0 = System.nanoTime();
      for (int i = 0; i < images; i++) {
        byte[] img = distinct(pool.get(i % pool.size()));
        done.add(threads.submit(() -> s.infer(img)));
      }
      for (Future<?> f : done) {
        f.get();
      }
      return images / ((System.nanoTime() - t0) / 1e9);
    } finally {
      threads.shutdownNow();
    }
  }

  private byte[] distinct(byte[] src) {
    return SidecarRun.distinct(src, seq.incrementAndGet());
  }

  private void shutdown(SidecarRun s) throws Exception {
    SidecarRun.HTTP.send(HttpRequest.newBuilder(URI.create(s.url + "/shutdown"))
        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
    if (!s.process.waitFor(60, TimeUnit.SECONDS)) {
      throw new IllegalStateException("the sidecar did not exit within 60 s of /shutdown");
    }
  }

  private String vram(NvidiaSmi smi) {
    try {
      Map<Integer, Integer> used = smi.memoryUsedMb();
      return used.containsKey(gpu) ? used.get(gpu) + " MiB" : "n/a: nvidia-smi lists no GPU " + gpu;
    } catch (NvidiaSmi.Unavailable e) {
      return "n/a: " + e.getMessage();
    }
  }

  private static String apps(NvidiaSmi smi) {
    try {
      return smi.computeApps().toString();
    } catch (NvidiaSmi.Unavailable e) {
      return "n/a: " + e.getMessage();
    }
  }

  private static JsonObject get(String url) throws Exception {
    return new JsonObject(SidecarRun.HTTP.send(HttpRequest.newBuilder(URI.create(url)).build(),
        HttpResponse.BodyHandlers.ofString()).body());
  }

  /** The fallbacks /health lists, grouped by reason. */
  private static String fallbacks(JsonObject health) {
    JsonObject f = health.getJsonObject("device_fallbacks");
    if (f == null) {
      return "";
    }
    Map<String, List<String>> byReason = new java.util.TreeMap<>();
    f.forEach(e -> byReason.computeIfAbsent(String.valueOf(e.getValue()), r -> new ArrayList<>()).add(e.getKey()));
    StringBuilder out = new StringBuilder("; fell back to CPU:");
    byReason.forEach((reason, names) -> out.append(' ').append(names).append(": ").append(reason).append('.'));
    return out.toString();
  }

  private static String broker(JsonObject status) {
    List<String> out = new ArrayList<>();
    status.getJsonArray("gpus").forEach(g -> {
      JsonObject gpu = (JsonObject) g;
      StringBuilder line = new StringBuilder("gpu " + gpu.getInteger("gpu") + ":");
      gpu.getJsonArray("leases").forEach(o -> {
        JsonObject l = (JsonObject) o;
        line.append(" lease ").append(l.getString("state")).append(" by ").append(l.getString("owner"))
            .append(" (pid ").append(l.getValue("pid")).append(", observed_vram_mb ")
            .append(l.getValue("observed_vram_mb")).append(')');
      });
      gpu.fieldNames().stream().filter(k -> k.startsWith("observed")).forEach(k -> line.append("; ").append(k)
          .append(' ').append(gpu.getValue(k)));
      out.add(line.toString());
    });
    return String.join("; ", out);
  }

  private static String devices(JsonObject models) {
    List<String> out = new ArrayList<>();
    models.getJsonArray("models").forEach(m -> out.add(((JsonObject) m).getString("name") + " "
        + ((JsonObject) m).getString("device")));
    return String.join(", ", out);
  }

  private static List<String> names(JsonArray models) {
    return models.stream().map(m -> ((JsonObject) m).getString("name")).toList();
  }

  private byte[] jpeg() throws Exception {
    int shift = seq.incrementAndGet() % 120 - 60;
    return SampleImages.jpeg(SampleImages.perChannel(SampleImages.photo(1920, 1080, shift), v -> v + shift));
  }
}
