package io.iqa.bench;

import io.iqa.sidecar.image.ImageDecoder;
import io.iqa.sidecar.model.ImageScorer;
import io.iqa.sidecar.model.ModelRegistry;
import io.iqa.sidecar.samples.SampleImages;
import io.iqa.sidecar.service.SidecarOptions;
import io.iqa.sidecar.service.SidecarVerticle;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.HdrHistogram.Histogram;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The sidecar over HTTP on loopback with the default model set: /infer latency on a cache miss
 * against the same work in-process, cache-hit latency for a 1 MB JPEG, and throughput with 8
 * concurrent clients with and without dynamic batching.
 */
@Command(name = "sidecar",
    description = "Sidecar /infer: miss latency vs in-process, 1 MB cache hit, batching throughput.")
final class SidecarBench extends BenchCommand {

  @Option(names = "--requests", defaultValue = "200", description = "latency samples") int requests;
  @Option(names = "--clients", defaultValue = "8", description = "concurrent clients") int clients;
  @Option(names = "--seconds", defaultValue = "10", description = "throughput run length") int seconds;

  private final Random rnd = new Random(5);
  private BufferedImage base;

  @Override
  public Integer call() throws Exception {
    base = SampleImages.scene(384);
    Vertx client = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(1));
    HttpClient http = null;
    try {
      // 1. cache-miss latency over HTTP (no batching, batch 1) vs the same work in-process.
      Histogram inProcess = inProcess();
      Vertx server = Vertx.vertx();
      SidecarVerticle sidecar = deploy(server, 1, 0);
      http = client.createHttpClient(new HttpClientOptions().setDefaultHost("127.0.0.1")
          .setDefaultPort(sidecar.actualPort()), new PoolOptions().setHttp1MaxSize(clients + 2));
      // As many warm-up calls over HTTP as in-process, so both sides are compiled alike.
      for (int i = 0; i < 200; i++) {
        infer(http, "/infer?models=" + ONE, image()).await(60, TimeUnit.SECONDS);
        infer(http, image()).await(60, TimeUnit.SECONDS);
      }
      Histogram miss = new Histogram(3);
      Histogram missAll = new Histogram(3);
      for (int i = 0; i < requests; i++) {
        long t0 = System.nanoTime();
        infer(http, "/infer?models=" + ONE, image()).await(60, TimeUnit.SECONDS);
        miss.recordValue(System.nanoTime() - t0);
        t0 = System.nanoTime();
        infer(http, image()).await(60, TimeUnit.SECONDS);
        missAll.recordValue(System.nanoTime() - t0);
      }
      // 2. cache hit for a 1 MB JPEG.
      byte[] big = oneMegabyteJpeg();
      infer(http, big).await(60, TimeUnit.SECONDS);
      Histogram hit = new Histogram(3);
      for (int i = 0; i < requests + 100; i++) {
        long t0 = System.nanoTime();
        JsonObject a = infer(http, big).await(60, TimeUnit.SECONDS);
        if (i >= 100) {
          hit.recordValue(System.nanoTime() - t0);
        }
        if (!a.getBoolean("cached")) {
          throw new IllegalStateException("the 1 MB image was not served from the cache");
        }
      }
      // 3. throughput, 8 clients, distinct images: without batching, then with.
      var before = SidecarRun.stages("http://127.0.0.1:" + sidecar.actualPort());
      double without = throughput(http);
      String stagesWithout = SidecarRun.stageMeans(before, SidecarRun.stages("http://127.0.0.1:" + sidecar.actualPort()),
          latencyMs());
      http.close();
      server.close().await(30, TimeUnit.SECONDS);
      server = Vertx.vertx();
      sidecar = deploy(server, 8, 5);
      http = client.createHttpClient(new HttpClientOptions().setDefaultHost("127.0.0.1")
          .setDefaultPort(sidecar.actualPort()), new PoolOptions().setHttp1MaxSize(clients + 2));
      throughput(http);
      before = SidecarRun.stages("http://127.0.0.1:" + sidecar.actualPort());
      double with = throughput(http);
      String stagesWith = SidecarRun.stageMeans(before, SidecarRun.stages("http://127.0.0.1:" + sidecar.actualPort()),
          latencyMs());
      server.close().await(30, TimeUnit.SECONDS);

      double ratio = p(miss, 50) / p(inProcess, 50);
      new ResultTable("Sidecar /infer, default model set (5 built-in models), CPU, HTTP on loopback")
          .note("images: 384x384 JPEGs of the sample scene, each one new (a cache miss) unless stated; the sidecar and "
              + "the load generator share this machine")
          .note("miss vs in-process: one model (" + ONE + "), each side hashes, decodes and scores a new image at "
              + "batch 1; in-process calls ImageScorer directly, /infer adds HTTP, the event loop and the worker pool")
          .note("throughput: " + clients + " clients for " + seconds + " s after a warm-up run; without batching = "
              + "max_batch 1, max_queue_delay_ms 0; with = max_batch 8, max_queue_delay_ms 5")
          .row("/infer cache miss p50, " + ONE, ms(p(miss, 50)), "", "")
          .row("/infer cache miss p99, " + ONE, ms(p(miss, 99)), "", "")
          .row("in-process p50, " + ONE, ms(p(inProcess, 50)), "", "")
          .row("in-process p99, " + ONE, ms(p(inProcess, 99)), "", "")
          .row("/infer miss p50 / in-process p50", String.format("%.2f", ratio), "<= 1.15",
              ResultTable.check(ratio, 1.15, false))
          .row("/infer cache miss p50 / p99, all 5 models", ms(p(missAll, 50)) + " / " + ms(p(missAll, 99)), "", "")
          .row("cache hit p50, " + big.length / 1024 + " KiB JPEG", ms(p(hit, 50)), "< 2 ms",
              ResultTable.check(p(hit, 50) / 1e6, 2, false))
          .row("cache hit p99", ms(p(hit, 99)), "", "")
          .row("images/s, " + clients + " clients, no batching", String.format("%.1f", without), "", "")
          .row("images/s, " + clients + " clients, dynamic batching", String.format("%.1f", with), "", "")
          .row("time per image by stage, no batching", stagesWithout, "", "")
          .row("time per image by stage, dynamic batching", stagesWith, "", "")
          .row("batching speed-up", String.format("%.2f", with / without), ">= 1.5",
              ResultTable.check(with / without, 1.5, true))
          .printAndWrite(results.or("sidecar.md"));
      return 0;
    } finally {
      if (http != null) {
        http.close();
      }
      client.close().await(30, TimeUnit.SECONDS);
    }
  }

  private static JsonObject config(int maxBatch, long delayMs) {
    return new JsonObject().put("models", io.iqa.sidecar.model.builtin.Builtins.entries()).put("device", "cpu").put("port", 0).put("max_batch", maxBatch)
        .put("batching", new JsonObject().put("max_queue_delay_ms", delayMs).put("workers", 2));
  }

  private static SidecarVerticle deploy(Vertx vertx, int maxBatch, long delayMs) throws Exception {
    SidecarVerticle s = new SidecarVerticle(SidecarOptions.read(config(maxBatch, delayMs)), Path.of("."));
    vertx.deployVerticle(s).await(120, TimeUnit.SECONDS);
    return s;
  }

  private static final String ONE = "tech_sharpness";

  private Histogram inProcess() throws Exception {
    Histogram h = new Histogram(3);
    JsonObject one = config(1, 0).put("models", new JsonArray().add(new JsonObject().put("name", ONE)
        .put("backend", "builtin")));
    try (ModelRegistry registry = ModelRegistry.load(one, Path.of("."))) {
      ImageScorer scorer = new ImageScorer(new ImageDecoder(), registry);
      for (int i = 0; i < requests + 200; i++) {
        byte[] img = image();
        long t0 = System.nanoTime();
        scorer.score(List.of(img), registry.models());
        if (i >= 200) {
          h.recordValue(System.nanoTime() - t0);
        }
      }
    }
    return h;
  }

  /** Client-side wait of the last {@link #throughput} run: total ns and requests. */
  private final java.util.concurrent.atomic.AtomicLong waitedNanos = new java.util.concurrent.atomic.AtomicLong();
  private final AtomicInteger answered = new AtomicInteger();

  private double latencyMs() {
    return waitedNanos.get() / 1e6 / Math.max(1, answered.get());
  }

  private double throughput(HttpClient http) {
    waitedNanos.set(0);
    answered.set(0);
    AtomicInteger done = new AtomicInteger();
    long end = System.nanoTime() + seconds * 1_000_000_000L;
    List<Future<Void>> loops = new ArrayList<>();
    List<byte[]> pool = new ArrayList<>();
    for (int i = 0; i < 64; i++) {
      pool.add(image());
    }
    AtomicInteger next = new AtomicInteger();
    long t0 = System.nanoTime();
    for (int c = 0; c < clients; c++) {
      Promise<Void> p = Promise.promise();
      loop(http, pool, next, end, done, p);
      loops.add(p.future());
    }
    Future.all(loops).await();
    return done.get() / ((System.nanoTime() - t0) / 1e9);
  }

  private void loop(HttpClient http, List<byte[]> pool, AtomicInteger next, long end, AtomicInteger done, Promise<Void> p) {
    if (System.nanoTime() >= end) {
      p.complete();
      return;
    }
    // Each request is a distinct image (a counter appended after the JPEG's end marker, which
    // decoders ignore): a cache miss, so every request runs the models.
    byte[] src = pool.get(next.get() % pool.size());
    byte[] img = SidecarRun.distinct(src, next.getAndIncrement());
    long r0 = System.nanoTime();
    infer(http, img).onComplete(ar -> {
      if (ar.succeeded()) {
        waitedNanos.addAndGet(System.nanoTime() - r0);
        answered.incrementAndGet();
        done.incrementAndGet();
      }
      loop(http, pool, next, end, done, p);
    });
  }

  private static Future<JsonObject> infer(HttpClient http, byte[] img) {
    return infer(http, "/infer", img);
  }

  private static Future<JsonObject> infer(HttpClient http, String uri, byte[] img) {
    return http.request(new RequestOptions().setMethod(HttpMethod.POST).setURI(uri)
            .putHeader("Content-Type", "image/jpeg"))
        .compose(req -> req.send(Buffer.buffer(img)).compose(resp -> resp.body().compose(b -> resp.statusCode() == 200
            ? Future.succeededFuture(b.toJsonObject())
            : Future.failedFuture("/infer -> " + resp.statusCode() + " " + b))));
  }

  private byte[] image() {
    int shift = rnd.nextInt(80) - 40;
    return SampleImages.jpeg(SampleImages.perChannel(base, v -> v + shift));
  }

  /** A noisy scene at high quality, grown until the JPEG is at least 1 MB. */
  private static byte[] oneMegabyteJpeg() throws Exception {
    for (int size = 1400; ; size += 200) {
      byte[] jpeg = noisyJpeg(size);
      if (jpeg.length >= 1_000_000) {
        return jpeg;
      }
    }
  }

  private static byte[] noisyJpeg(int size) throws Exception {
    Random r = new Random(3);
    BufferedImage img = SampleImages.perChannel(SampleImages.scene(size), v -> v + (int) (r.nextGaussian() * 12));
    return SampleImages.jpeg(img, 0.9f);
  }

  private static double p(Histogram h, double percentile) {
    return h.getValueAtPercentile(percentile);
  }

  private static String ms(double nanos) {
    return String.format("%.2f ms", nanos / 1e6);
  }
}
