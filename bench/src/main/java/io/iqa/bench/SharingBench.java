package io.iqa.bench;

import ch.qos.logback.classic.Level;
import io.iqa.broker.BrokerOptions;
import io.iqa.broker.BrokerVerticle;
import io.iqa.client.Lease;
import io.iqa.client.LeaseClient;
import io.iqa.protocol.wire.LeaseRequest;
import io.iqa.sidecar.model.builtin.Builtins;
import io.iqa.sidecar.samples.SampleImages;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
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

  @Mixin SharedModels shared;

  private int imageSeq;

  @Override
  public Integer call() throws Exception {
    BenchCommand.quietLogs(Level.WARN);
    Vertx vertx = Vertx.vertx();
    Path work = Files.createTempDirectory("bench-sharing");
    try {
      BrokerVerticle broker = new BrokerVerticle(new BrokerOptions(new JsonObject().put("port", 0)
          .put("observe_interval_ms", 0)
          .put("gpus", new JsonArray().add(new JsonObject().put("index", 0).put("vram_mb", 0)))).fresh(true));
      vertx.deployVerticle(broker).await(60, TimeUnit.SECONDS);
      String brokerUrl = "http://127.0.0.1:" + broker.actualPort();

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
      Histogram coldDefault = coldStarts(brokerUrl, Builtins.entries(), work);
      Histogram coldNima = shared.hasNima()
          ? coldStarts(brokerUrl, new JsonArray().add(shared.nimaEntry()), work) : null;

      ResultTable table = new ResultTable("Sidecar GPU sharing: yield and cold start on demand")
          .note("a real broker (memory store, one whole-device gpu 0) and a real sidecar process (front + worker, "
              + "lease.required so it leases on this CPU-only machine, lease.yield on); models on CPU")
          .note("yield: the sidecar holds gpu 0 and is idle (its last image answered 300 ms before); another "
              + "program asks for gpu 0 with wait_s 30 (LeaseClient); time from its request to its grant: the "
              + "broker's yield request on the watch channel, the worker's stop and exit, the release, the grant; "
              + samples + " samples")
          .note("cold start: idle_release_s 1; once the sidecar is idle (worker stopped, lease released), time "
              + "from sending a new image to its answer: lease, worker JVM start, model load, decode, score; "
              + coldSamples + " samples per model set")
          .row("yield latency p50", ms(yield.getValueAtPercentile(50)), "< 500 ms",
              ResultTable.check(yield.getValueAtPercentile(50) / 1e6, 500, false))
          .row("yield latency p95 / max", ms(yield.getValueAtPercentile(95)) + " / " + ms(yield.getMaxValue()), "", "")
          .row("cold start p50 / max, default set (5 built-in models)", ms(coldDefault.getValueAtPercentile(50))
              + " / " + ms(coldDefault.getMaxValue()), "", "");
      if (coldNima != null) {
        table.row("cold start p50 / max, NIMA MobileNet (TensorFlow, 13 MB)", ms(coldNima.getValueAtPercentile(50))
            + " / " + ms(coldNima.getMaxValue()), "", "");
      } else {
        table.row("cold start, NIMA MobileNet", "skipped: " + shared.nima() + " absent", "", "");
      }
      table.printAndWrite(results.or("sharing.md"));
      return 0;
    } finally {
      vertx.close().await(60, TimeUnit.SECONDS);
    }
  }

  private Histogram coldStarts(String brokerUrl, JsonArray models, Path work) throws Exception {
    Histogram h = new Histogram(3);
    try (SidecarRun s = SidecarRun.start(config(brokerUrl, models, 1), work)) {
      s.infer(newImage());
      for (int i = 0; i < coldSamples; i++) {
        s.awaitState("idle");
        long t0 = System.nanoTime();
        s.infer(newImage());
        h.recordValue(System.nanoTime() - t0);
      }
    }
    return h;
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
