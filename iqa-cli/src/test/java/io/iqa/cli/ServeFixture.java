package io.iqa.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.iqa.testkit.BrokerProcess;
import io.iqa.testkit.StandInNvidiaSmi;
import io.iqa.client.LeaseClient;
import io.iqa.testkit.serve.StandInModelServer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A real broker process whose stand-in nvidia-smi lists the stand-in model servers' memory files,
 * and {@code iqa gpu serve} as its own process fronting a stand-in model server it starts.
 */
final class ServeFixture implements AutoCloseable {

  static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  private static final Pattern LISTENING = Pattern.compile("listening on http://127\\.0\\.0\\.1:(\\d+)");

  final Path dir;
  final Path memDir;
  final BrokerProcess broker;
  final LeaseClient leases;
  final List<Front> fronts = new ArrayList<>();

  /** One {@code iqa gpu serve} process and the stand-in it started. */
  final class Front implements AutoCloseable {
    final Process process;
    final Path log;
    final int port;
    final int upstreamPort;

    Front(Process process, Path log, int port, int upstreamPort) {
      this.process = process;
      this.log = log;
      this.port = port;
      this.upstreamPort = upstreamPort;
    }

    String url() {
      return "http://127.0.0.1:" + port;
    }

    HttpResponse<String> complete(String body) throws Exception {
      return HTTP.send(HttpRequest.newBuilder(URI.create(url() + "/v1/completions")).timeout(Duration.ofSeconds(60))
          .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
          HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> post(String path, String body) throws Exception {
      return HTTP.send(HttpRequest.newBuilder(URI.create(url() + path)).timeout(Duration.ofSeconds(60))
          .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
          HttpResponse.BodyHandlers.ofString());
    }

    JsonObject status() throws Exception {
      return new JsonObject(HTTP.send(HttpRequest.newBuilder(URI.create(url() + "/iqa/status")).build(),
          HttpResponse.BodyHandlers.ofString()).body());
    }

    /** @return the pid of the stand-in server the front started, or null when it runs none */
    Long serverPid() throws Exception {
      return status().getJsonObject("worker").getLong("pid");
    }

    String log() {
      try {
        return Files.readString(log);
      } catch (IOException e) {
        return e.toString();
      }
    }

    @Override
    public void close() throws Exception {
      Long pid = null;
      try {
        pid = serverPid();
      } catch (Exception ignored) {
        // front gone already
      }
      process.destroy();
      if (!process.waitFor(60, TimeUnit.SECONDS)) {
        process.destroyForcibly();
      }
      if (pid != null) {
        ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
      }
    }
  }

  ServeFixture(Path dir) throws Exception {
    this(dir, true);
  }

  /** @param observed false: the broker has no nvidia-smi and observes no GPU memory */
  ServeFixture(Path dir, boolean observed) throws Exception {
    this.dir = dir;
    this.memDir = Files.createDirectories(dir.resolve("gpu-memory"));
    StandInNvidiaSmi smi = new StandInNvidiaSmi(dir.resolve("smi"), Map.of(0, 24576));
    smi.showMemoryFiles(memDir);
    JsonObject config = new JsonObject()
        .put("gpus", new JsonArray().add(new JsonObject().put("index", 0).put("vram_mb", 24576)))
        .put("observe_interval_ms", 100);
    if (!observed) {
      config.put("nvidia_smi", dir.resolve("no-nvidia-smi").toString());
    }
    broker = new BrokerProcess(config, dir, observed ? smi.pathEnv() : Map.of());
    leases = new LeaseClient("http://127.0.0.1:" + broker.port);
  }

  static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  /**
   * Starts {@code iqa gpu serve --adapter adapter} in front of a stand-in of {@code flavor}, with
   * {@code flags} for the front and {@code serverFlags} for the stand-in; waits for its listening line.
   */
  Front front(String adapter, String flavor, List<String> flags, List<String> serverFlags) throws Exception {
    int upstream = freePort();
    Path conf = dir.resolve("client-" + upstream + ".json");
    Files.writeString(conf, new JsonObject().put("broker_url", "http://127.0.0.1:" + broker.port).encode());
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> cmd = new ArrayList<>(List.of(java, "-cp", System.getProperty("java.class.path"),
        IqaMain.class.getName(), "--conf", conf.toString(), "gpu", "serve", "--listen", "127.0.0.1:0",
        "--upstream", "http://127.0.0.1:" + upstream, "--adapter", adapter, "--health", health(flavor)));
    cmd.addAll(flags);
    cmd.addAll(List.of("--", java, "-Xmx64m", "-cp", System.getProperty("java.class.path"),
        StandInModelServer.class.getName(), "--flavor", flavor, "--port", Integer.toString(upstream),
        "--mem-dir", memDir.toString()));
    cmd.addAll(serverFlags);
    Path log = dir.resolve("front-" + upstream + ".log");
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (System.nanoTime() < deadline) {
      Matcher m = LISTENING.matcher(Files.readString(log));
      if (m.find()) {
        Front f = new Front(p, log, Integer.parseInt(m.group(1)), upstream);
        fronts.add(f);
        return f;
      }
      if (!p.isAlive()) {
        break;
      }
      Thread.sleep(50);
    }
    p.destroyForcibly();
    throw new IOException("iqa gpu serve did not start:\n" + Files.readString(log));
  }

  static String health(String flavor) {
    return switch (flavor) {
      case "ollama" -> "/";
      case "comfyui" -> "/system_stats";
      default -> "/health";
    };
  }

  /** @return the MiB the stand-in nvidia-smi shows for {@code pid} now (0: none) */
  int memoryOf(long pid) throws IOException {
    Path f = memDir.resolve(Long.toString(pid));
    if (!Files.exists(f)) {
      return 0;
    }
    String[] parts = Files.readString(f).trim().split(" ");
    return Integer.parseInt(parts[1]);
  }

  JsonNode leasesOnGpu0() {
    return leases.status().path("gpus").get(0).path("leases");
  }

  List<JsonObject> events() throws Exception {
    List<JsonObject> out = new ArrayList<>();
    for (Object o : broker.get("/v1/gpu/events?since=0").getJsonArray("events")) {
      out.add((JsonObject) o);
    }
    return out;
  }

  @Override
  public void close() throws Exception {
    for (Front f : fronts) {
      f.close();
    }
    leases.close();
    broker.close();
  }
}
