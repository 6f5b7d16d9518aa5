package io.iqa.bench;

import ch.qos.logback.classic.Level;
import io.iqa.sidecar.image.ImageDecoder;
import io.iqa.sidecar.image.Need;
import io.iqa.sidecar.model.ImageInput;
import io.iqa.sidecar.model.builtin.Builtins;
import io.iqa.sidecar.model.tf.TfModel;
import io.iqa.sidecar.model.tf.TfModelSpec;
import io.iqa.sidecar.samples.SampleImages;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * A model of real size, the NIMA MobileNet of {@code ../shared/models}, on CPU: its cost per image
 * at batch 1, 2, 4 and 8 (in-process), images/s through the sidecar with 8 concurrent clients with
 * dynamic batching and without, and the first request after start against the steady state, with
 * and without the worker's warm-up.
 */
@Command(name = "nima", description = "NIMA-size model: cost per image by batch size, batching throughput, warm-up.")
final class NimaBench extends BenchCommand {

  @Mixin SharedModels shared;

  @Option(names = "--clients", defaultValue = "8", description = "concurrent clients") int clients;
  @Option(names = "--seconds", defaultValue = "15", description = "throughput run length") int seconds;

  private final AtomicInteger seq = new AtomicInteger();

  @Override
  public Integer call() throws Exception {
    Path nima = shared.nima();
    if (!shared.hasNima()) {
      System.out.println(nima + " is not here: nothing to measure (see ../shared/models/README.md)");
      return 0;
    }
    BenchCommand.quietLogs(Level.WARN);
    Path dir = Files.createTempDirectory("bench-nima");
    ResultTable t = new ResultTable("NIMA MobileNet (TensorFlow, 224x224, 3.2 M parameters), CPU")
        .note("the model: " + nima + " (idealo's NIMA export graph, untrained weights; costs what a real one costs)")
        .note("per image by batch size: in-process TfModel.score on inputs already decoded and resized, median of "
            + "20 calls after 5 warm-up calls")
        .note("throughput: a sidecar process with NIMA only, " + clients + " clients sending distinct 640x480 JPEGs "
            + "for " + seconds + " s after a 5 s warm-up; without batching = max_batch 1; with = max_batch 8, "
            + "max_queue_delay_ms 5")
        .note("first request: a fresh sidecar process (NIMA and the default set), the first /infer after its "
            + "'listening' line vs the median of the next 20, with worker.warmup on (default) and off");
    perImageByBatch(t, nima);
    Throughput one = throughput(dir, 1);
    Throughput eight = throughput(dir, 8);
    double without = one.perSecond();
    double with = eight.perSecond();
    t.row("images/s, " + clients + " clients, no batching", String.format("%.1f", without), "", "")
        .row("images/s, " + clients + " clients, dynamic batching", String.format("%.1f", with), "", "")
        .row("time per image by stage, no batching", one.stages(), "", "")
        .row("time per image by stage, dynamic batching", eight.stages(), "", "")
        .row("batching speed-up", String.format("%.2f", with / without), ">= 1.5",
            ResultTable.check(with / without, 1.5, true));
    firstRequest(t, dir, true);
    firstRequest(t, dir, false);
    t.printAndWrite(results.or("nima.md"));
    return 0;
  }

  private void perImageByBatch(ResultTable t, Path nima) throws Exception {
    ImageDecoder decoder = new ImageDecoder();
    List<ImageInput> inputs = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      ImageInput in = ImageInput.lazy(jpeg(), decoder, Need.ofInput(TfModel.NIMA_SIZE, TfModel.NIMA_SIZE));
      in.rgb(TfModel.NIMA_SIZE, TfModel.NIMA_SIZE, io.iqa.sidecar.image.Fit.STRETCH);
      inputs.add(in);
    }
    StringBuilder row = new StringBuilder();
    double one = 0;
    double eight = 0;
    try (TfModel model = new TfModel(TfModelSpec.of("nima", TfModelSpec.Kind.NIMA, nima))) {
      for (int batch : new int[] {1, 2, 4, 8}) {
        List<ImageInput> b = inputs.subList(0, batch);
        for (int i = 0; i < 5; i++) {
          model.score(b);
        }
        double[] per = new double[20];
        for (int i = 0; i < per.length; i++) {
          long t0 = System.nanoTime();
          model.score(b);
          per[i] = (System.nanoTime() - t0) / 1e6 / batch;
        }
        Arrays.sort(per);
        double median = per[per.length / 2];
        one = batch == 1 ? median : one;
        eight = batch == 8 ? median : eight;
        row.append(row.length() == 0 ? "" : ", ").append("batch ").append(batch).append(": ")
            .append(String.format("%.1f ms", median));
      }
    } finally {
      inputs.forEach(ImageInput::close);
    }
    t.row("cost per image by batch size", row.toString(), "", "")
        .row("per-image cost, batch 1 / batch 8", String.format("%.2f", one / eight), "", "");
  }

  /** Images per second, and where each image's time went (from the sidecar's stage metrics). */
  record Throughput(double perSecond, String stages) {
  }

  private Throughput throughput(Path dir, int maxBatch) throws Exception {
    JsonObject config = new JsonObject().put("device", "cpu").put("max_batch", maxBatch)
        .put("batching", new JsonObject().put("max_queue_delay_ms", maxBatch == 1 ? 0 : 5))
        .put("models", new JsonArray().add(shared.nimaEntry()));
    List<byte[]> pool = new ArrayList<>();
    for (int i = 0; i < 16; i++) {
      pool.add(jpeg());
    }
    try (SidecarRun s = SidecarRun.start(config, dir)) {
      run(s, pool, 5, new double[1]);
      var before = s.stages();
      double[] latency = new double[1];
      double rate = run(s, pool, seconds, latency);
      return new Throughput(rate, SidecarRun.stageMeans(before, s.stages(), latency[0]));
    }
  }

  /** {@code clients} threads sending distinct images (a counter after the JPEG's end marker) for {@code secs}. */
  private double run(SidecarRun s, List<byte[]> pool, int secs, double[] meanLatencyMs) throws Exception {
    AtomicInteger done = new AtomicInteger();
    java.util.concurrent.atomic.AtomicLong waited = new java.util.concurrent.atomic.AtomicLong();
    long end = System.nanoTime() + secs * 1_000_000_000L;
    List<Thread> threads = new ArrayList<>();
    long t0 = System.nanoTime();
    for (int c = 0; c < clients; c++) {
      Thread th = new Thread(() -> {
        while (System.nanoTime() < end) {
          int n = seq.incrementAndGet();
          byte[] img = SidecarRun.distinct(pool.get(n % pool.size()), n);
          try {
            long r0 = System.nanoTime();
            s.infer(img);
            waited.addAndGet(System.nanoTime() - r0);
            done.incrementAndGet();
          } catch (Exception e) {
            throw new IllegalStateException(e);
          }
        }
      });
      th.start();
      threads.add(th);
    }
    for (Thread th : threads) {
      th.join();
    }
    meanLatencyMs[0] = waited.get() / 1e6 / Math.max(1, done.get());
    return done.get() / ((System.nanoTime() - t0) / 1e9);
  }

  private void firstRequest(ResultTable t, Path dir, boolean warmup) throws Exception {
    JsonArray models = Builtins.entries().copy().add(shared.nimaEntry());
    JsonObject config = new JsonObject().put("device", "cpu").put("models", models)
        .put("worker", new JsonObject().put("warmup", warmup));
    byte[][] images = new byte[21][];
    for (int i = 0; i < images.length; i++) {
      images[i] = jpeg(); // made before the clock starts: only the requests are timed
    }
    try (SidecarRun s = SidecarRun.start(config, dir)) {
      long t0 = System.nanoTime();
      s.infer(images[0]);
      double first = (System.nanoTime() - t0) / 1e6;
      double[] steady = new double[20];
      for (int i = 0; i < steady.length; i++) {
        long t1 = System.nanoTime();
        s.infer(images[i + 1]);
        steady[i] = (System.nanoTime() - t1) / 1e6;
      }
      Arrays.sort(steady);
      double median = steady[steady.length / 2];
      String label = "worker.warmup " + (warmup ? "on" : "off");
      t.row("first request / steady median, " + label, String.format("%.0f ms / %.0f ms = %.2f", first, median,
          first / median), warmup ? "close to 1" : "", "")
          .row("start to listening, " + label, s.startMs + " ms", "", "");
    }
  }

  private byte[] jpeg() throws Exception {
    int shift = seq.incrementAndGet() % 120 - 60;
    return SampleImages.jpeg(SampleImages.perChannel(SampleImages.photo(640, 480, shift), v -> v + shift));
  }
}
