package io.iqa.bench;

import io.iqa.broker.LocalBroker;
import ch.qos.logback.classic.Level;
import io.iqa.client.Lease;
import io.iqa.client.LeaseClient;
import io.iqa.protocol.wire.LeaseRequest;
import io.iqa.sidecar.model.builtin.Builtins;
import io.iqa.sidecar.samples.SampleImages;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.HdrHistogram.Histogram;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The sidecar sharing the GPU with another program, through a real broker: how long a program
 * that asks for the GPU waits while an idle sidecar yields it (yield request, worker stop, release,
 * grant), and how long the first cache miss after an idle release takes (lease, worker start,
 * model load, answer), for the default model set and for the NIMA-size model in
 * {@code ../shared/models} when it is there. The sidecar runs as a real process (front and worker).
 */
@Command(name = "sharing",
    description = "Sidecar GPU sharing: yield latency and cold start on demand after an idle release.")
final class SharingBench extends BenchCommand {

  @Option(names = "--samples", defaultValue = "20", description = "yield samples") int samples;
  @Option(names = "--cold-samples", defaultValue = "8", description = "cold starts per model set") int coldSamples;

  @Option(names = "--baseline-jar", defaultValue = "bench/target/baseline/sidecar/target/iqa-sidecar.jar",
      description = "the sidecar build to compare cold starts with (scripts/bench builds the one before the cold-start "
          + "work there); skipped when absent") Path baselineJar;
  @Mixin SidecarJar sidecar;

  @Mixin SharedModels shared;

  private int imageSeq;

  @Override
  public Integer call() throws Exception {
    BenchCommand.quietLogs(Level.WARN);
    return withVertx("sharing", (vertx, work) -> {
      String brokerUrl = LocalBroker.start(vertx, 1, new JsonObject().put("observe_interval_ms", 0));

      Histogram yield = new Histogram(3);
      try (SidecarRun s = SidecarRun.start(config(brokerUrl, Builtins.entries(), 0), work)) {
        s.infer(newImage());
        try (LeaseClient llm = new LeaseClient(brokerUrl, null, 0)) {
          for (int i = 0; i < samples + 2; i++) {
            s.infer(newImage()); // the sidecar takes the GPU back for a new image...
            Thread.sleep(300); // ...and is idle, holding it, when the other program asks
            long t0 = System.nanoTime();
            Lease l = llm.acquire(LeaseRequest.of("llm-server").withGpu(0).withWait(30).withTtl(60));
            long took = System.nanoTime() - t0;
            l.close();
            if (i >= 2) {
              yield.recordValue(took);
            }
          }
        }
      }
      ResultTable table = new ResultTable("Sidecar GPU sharing: yield and cold start on demand")
          .note("a real broker (memory store, one whole-device gpu 0) and a real sidecar process (front + worker, "
              + "lease.required so it leases on this CPU-only machine, lease.yield on); models on CPU")
          .note("yield: the sidecar holds gpu 0 and is idle (its last image answered 300 ms before); another "
              + "program asks for gpu 0 with wait_s 30 (LeaseClient); time from its request to its grant: the "
              + "broker's yield request on the watch channel, the worker's stop and exit, the release, the grant; "
              + samples + " samples")
          .note("cold start: idle_release_s 1; once the sidecar is idle (worker stopped, lease released), time "
              + "from sending a new image to its answer: lease, worker JVM start, model load, warm-up, decode, score; "
              + coldSamples + " samples per model set and build, the two builds' samples taken in turn in this run")
          .note("builds: this one (" + sidecar.jar + ", its class archive made by its own training worker before the "
              + "samples) and the baseline (" + baselineJar + ": the sidecar before the cold-start work, built from "
              + "git by scripts/bench); steps from this build's 'worker ... ready' log lines, medians")
          .row("yield latency p50", ms(yield.getValueAtPercentile(50)), "< 500 ms",
              ResultTable.check(yield.getValueAtPercentile(50) / 1e6, 500, false))
          .row("yield latency p95 / max", ms(yield.getValueAtPercentile(95)) + " / " + ms(yield.getMaxValue()), "", "");
      coldStarts(table, "default set (6 models)", brokerUrl, Builtins.entries(), work);
      if (shared.hasNima()) {
        coldStarts(table, "NIMA MobileNet (TensorFlow, 13 MB)", brokerUrl, new JsonArray().add(shared.nimaEntry()), work);
      } else {
        table.row("cold start, NIMA MobileNet", "skipped: " + shared.nima() + " absent", "", "");
      }
      table.printAndWrite(results.or("sharing.md"));
      return 0;
    });
  }

  /** Cold starts of both builds in turn; rows: each build's p50, the ratio, this build's steps. */
  private void coldStarts(ResultTable t, String set, String brokerUrl, JsonArray models, Path work) throws Exception {
    boolean withBaseline = Files.isRegularFile(baselineJar);
    Histogram now = new Histogram(3);
    Histogram before = new Histogram(3);
    List<double[]> steps = new ArrayList<>();
    Path cache = Files.createTempDirectory(work, "cache");
    try (SidecarRun s = SidecarRun.start(config(brokerUrl, models, 1), work, sidecar.jar.toString(),
        Map.of("XDG_CACHE_HOME", cache.toString()));
        SidecarRun old = withBaseline ? SidecarRun.start(config(brokerUrl, models, 1), work, baselineJar.toString(),
            Map.of()) : null) {
      s.infer(newImage());
      // Its first idle spell makes the class archive (a training worker); the samples start once it is there.
      JsonObject h = s.await("its class archive", x -> {
        String st = x.getJsonObject("worker").getJsonObject("class_archive").getString("state");
        return !st.equals("missing") && !st.equals("making");
      });
      String archive = h.getJsonObject("worker").getJsonObject("class_archive").getString("state");
      if (old != null) {
        old.infer(newImage());
      }
      for (int i = 0; i < coldSamples; i++) {
        if (old != null) {
          before.recordValue(coldStart(old, s));
        }
        now.recordValue(coldStart(s, old));
        steps.add(lastSteps(s.log));
      }
      t.row("cold start p50 / max, " + set + ", this build (class archive " + archive + ")",
          ms(now.getValueAtPercentile(50)) + " / " + ms(now.getMaxValue()), "", "");
      if (old != null) {
        double ratio = now.getValueAtPercentile(50) / (double) before.getValueAtPercentile(50);
        t.row("cold start p50 / max, " + set + ", baseline build", ms(before.getValueAtPercentile(50)) + " / "
            + ms(before.getMaxValue()), "", "");
        t.row("cold start, " + set + ", this build / baseline", String.format("%.2f", ratio), "<= 0.6",
            ResultTable.check(ratio, 0.6, false));
      } else {
        t.row("cold start, " + set + ", baseline build", "skipped: no " + baselineJar, "", "");
      }
      double total = now.getValueAtPercentile(50) / 1e6;
      double[] m = medians(steps);
      t.row("cold start steps, " + set + ", this build (share of " + String.format("%.0f ms", total) + ")",
          String.format("JVM start to connected %.0f ms (%.0f%%), INIT received %.0f ms (%.0f%%), models %.0f ms "
              + "(%.0f%%), warm-up %.0f ms (%.0f%%), lease, first image and HTTP %.0f ms (%.0f%%)", m[1],
              100 * m[1] / total, m[2], 100 * m[2] / total, m[3], 100 * m[3] / total, m[4], 100 * m[4] / total,
              total - m[0], 100 * (total - m[0]) / total), "", "");
    }
  }

  /** One cold start of {@code s}, once both sidecars are idle. @return nanoseconds to the answer */
  private long coldStart(SidecarRun s, SidecarRun other) throws Exception {
    s.awaitState("idle");
    if (other != null) {
      other.awaitState("idle");
    }
    long t0 = System.nanoTime();
    s.infer(newImage());
    return System.nanoTime() - t0;
  }

  private static final Pattern READY = Pattern.compile("worker \\(pid \\d+\\) ready (\\d+) ms after its launch: JVM "
      + "start to connected (\\d+) ms .* INIT received (\\d+) ms, models (\\d+) ms, warm-up (\\d+) ms");

  /** @return the last worker start in the log: to ready, to connected, INIT received, models, warm-up (ms) */
  private static double[] lastSteps(Path log) throws Exception {
    double[] last = {Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN};
    for (String line : Files.readAllLines(log)) {
      Matcher m = READY.matcher(line);
      if (m.find() && !line.contains("training worker")) {
        for (int i = 0; i < last.length; i++) {
          last[i] = Double.parseDouble(m.group(i + 1));
        }
      }
    }
    return last;
  }

  private static double[] medians(List<double[]> rows) {
    double[] out = new double[5];
    for (int i = 0; i < out.length; i++) {
      final int k = i;
      double[] col = rows.stream().mapToDouble(r -> r[k]).sorted().toArray();
      out[i] = col.length == 0 ? Double.NaN : col[col.length / 2];
    }
    return out;
  }

  private static JsonObject config(String brokerUrl, JsonArray models, int idleReleaseS) {
    return new JsonObject().put("models", models).put("port", 0).put("idle_release_s", idleReleaseS)
        .put("broker", new JsonObject().put("url", brokerUrl))
        .put("lease", new JsonObject().put("owner", "iqa-sidecar").put("gpu", 0).put("wait_s", 30).put("ttl_s", 30)
            .put("required", true).put("yield", true));
  }

  private byte[] newImage() throws Exception {
    int shift = imageSeq++ % 120 - 60;
    return SampleImages.jpeg(SampleImages.perChannel(SampleImages.scene(256 + imageSeq / 120), v -> v + shift));
  }

  private static String ms(double nanos) {
    return String.format("%.0f ms", nanos / 1e6);
  }
}
