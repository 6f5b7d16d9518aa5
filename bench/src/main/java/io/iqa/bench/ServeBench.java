package io.iqa.bench;

import io.iqa.broker.LocalBroker;
import ch.qos.logback.classic.Level;
import io.iqa.testkit.StandInNvidiaSmi;
import io.iqa.client.Lease;
import io.iqa.client.LeaseClient;
import io.iqa.holder.serve.ModelServerFront;
import io.iqa.holder.serve.ServeOptions;
import io.iqa.protocol.wire.LeaseRequest;
import io.iqa.testkit.serve.StandInModelServer;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.InputStream;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.HdrHistogram.Histogram;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code iqa gpu serve}'s hand-off and wake, through a real broker whose stand-in nvidia-smi shows
 * a stand-in model server's GPU memory (its own process, started by the front on the leased GPU):
 * hand-off is a yield asked (another program's lease request) to that program's grant (drain,
 * sleep through the adapter, the memory seen to fall, release, grant); wake is a request to the
 * sleeping front to its answer's first byte (lease, wake, health, forward). The stand-in's own time
 * (its configured sleep and wake, or for restart its process's start to ready) is subtracted, so
 * the figure is the front's.
 */
@Command(name = "serve", description = "iqa gpu serve: hand-off and wake times, vllm stand-in and restart.")
final class ServeBench extends BenchCommand {

  @Option(names = "--samples", defaultValue = "20", description = "hand-offs and wakes per adapter") int samples;

  private static final HttpClient HTTP = HttpClient.newHttpClient();
  private static final long SLEEP_MS = 50;
  private static final long WAKE_MS = 100;

  @Override
  public Integer call() throws Exception {
    BenchCommand.quietLogs(Level.WARN);
    return withVertx("serve", (vertx, work) -> {
      StandInNvidiaSmi smi = new StandInNvidiaSmi(work.resolve("smi"), Map.of(0, 24576));
      Path mem = work.resolve("gpu-memory");
      smi.showMemoryFiles(mem);
      String brokerUrl = LocalBroker.start(vertx, 0, new JsonObject().put("observe_interval_ms", 100)
          .put("nvidia_smi", smi.dir.resolve("nvidia-smi").toString())
          .put("gpus", new JsonArray().add(new JsonObject().put("index", 0).put("vram_mb", 24576))));
      ResultTable t = new ResultTable("iqa gpu serve: hand-off and wake")
          .note("a real broker (observe_interval_ms 100, a stand-in nvidia-smi listing the stand-in's memory), the "
              + "front in this JVM, the stand-in model server its own process on the leased GPU; " + samples
              + " samples each after 3 for warm-up")
          .note("hand-off: another program's lease request to its grant (drain, sleep, memory check, release, "
              + "grant), less the stand-in's own sleep (" + SLEEP_MS + " ms); wake: a request to the sleeping front "
              + "to the first byte of its answer, less the stand-in's own wake (" + WAKE_MS + " ms) or, for restart, "
              + "its process's start to ready");
      for (String adapter : List.of("vllm", "restart")) {
        Histogram[] h = run(vertx, brokerUrl, mem, work, adapter);
        t.row(adapter + ": hand-off p50 / p95", ms(h[0], 50) + " / " + ms(h[0], 95), "p95 <= 1000 ms",
            ResultTable.check(h[0].getValueAtPercentile(95) / 1e6, 1000, false));
        t.row(adapter + ": wake p50 / p95", ms(h[1], 50) + " / " + ms(h[1], 95), "p95 <= 1000 ms",
            ResultTable.check(h[1].getValueAtPercentile(95) / 1e6, 1000, false));
      }
      t.printAndWrite(results.or("serve.md"));
      return 0;
    });
  }

  private Histogram[] run(Vertx vertx, String brokerUrl, Path mem, Path work, String adapter) throws Exception {
    int upstream;
    try (ServerSocket s = new ServerSocket(0)) {
      upstream = s.getLocalPort();
    }
    Path trace = work.resolve(adapter + "-trace.txt");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> cmd = List.of(java, "-Xmx64m", "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"),
        StandInModelServer.class.getName(), "--flavor", adapter.equals("vllm") ? "vllm" : "plain", "--port",
        Integer.toString(upstream), "--mem-dir", mem.toString(), "--load-ms", "0", "--sleep-ms",
        Long.toString(SLEEP_MS), "--wake-ms", Long.toString(WAKE_MS), "--chunk-ms", "0", "--trace", trace.toString());
    ServeOptions o = new ServeOptions("127.0.0.1", 0, URI.create("http://127.0.0.1:" + upstream), adapter, 1,
        "/health", 0, 64, 60, 10, 10, 5, null, brokerUrl, null,
        LeaseRequest.of("llm").withGpu(0).withTtl(30).withWait(60).withYield(true)
            .withPid(ProcessHandle.current().pid()), cmd);
    ModelServerFront front = new ModelServerFront(vertx, o);
    int port = front.start().await(60, TimeUnit.SECONDS);
    Histogram handoff = new Histogram(3);
    Histogram wake = new Histogram(3);
    try (LeaseClient other = new LeaseClient(brokerUrl, null, 0)) {
      firstByte(port); // started on the first request
      for (int i = 0; i < samples + 3; i++) {
        long t0 = System.nanoTime();
        Lease l = other.acquire(LeaseRequest.of("batch").withGpu(0).withWait(30).withTtl(30));
        long hand = System.nanoTime() - t0 - (adapter.equals("vllm") ? SLEEP_MS * 1_000_000 : 0);
        l.close();
        awaitIdle(front);
        long t1 = System.nanoTime();
        firstByte(port);
        long w = System.nanoTime() - t1;
        w -= adapter.equals("vllm") ? WAKE_MS * 1_000_000 : ownStartNanos(trace);
        if (i >= 3) {
          handoff.recordValue(Math.max(0, hand));
          wake.recordValue(Math.max(0, w));
        }
      }
    } finally {
      front.shutdown("bench done").await(60, TimeUnit.SECONDS);
    }
    return new Histogram[] {handoff, wake};
  }

  /** The stand-in's own start: its JVM's start to its "awake" line in the trace (both its own clock readings). */
  private static long ownStartNanos(Path trace) throws Exception {
    List<String> lines = Files.readAllLines(trace);
    String[] last = lines.get(lines.size() - 1).split(" ");
    return Math.max(0, Long.parseLong(last[1]) - Long.parseLong(last[2])) * 1_000_000L;
  }

  private static void awaitIdle(ModelServerFront front) throws InterruptedException {
    // The other program's release lets the front's lease go back to idle; the next request wakes it.
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (!front.status().getString("state").equals("idle") && System.nanoTime() < deadline) {
      Thread.sleep(5);
    }
  }

  private static void firstByte(int port) throws Exception {
    HttpResponse<InputStream> r = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
        + "/v1/completions")).header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(
            "{\"prompt\":\"hi\",\"max_tokens\":2,\"stream\":true}")).build(), HttpResponse.BodyHandlers.ofInputStream());
    try (InputStream in = r.body()) {
      if (r.statusCode() != 200 || in.read() < 0) {
        throw new IllegalStateException("the front answered " + r.statusCode());
      }
      in.readAllBytes();
    }
  }

  private static String ms(Histogram h, double p) {
    return String.format("%.0f ms", h.getValueAtPercentile(p) / 1e6);
  }
}
