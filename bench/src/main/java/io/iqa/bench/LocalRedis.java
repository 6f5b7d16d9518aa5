package io.iqa.bench;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** A throwaway redis-server (Debian's package) on a free loopback port, for benchmarks. */
final class LocalRedis implements AutoCloseable {

  final int port;
  private final Path dir;
  private final Process process;

  LocalRedis() throws IOException, InterruptedException {
    dir = Files.createTempDirectory("bench-redis");
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    process = new ProcessBuilder(binary("redis-server"), "--port", Integer.toString(port), "--bind", "127.0.0.1",
        "--dir", dir.toString(), "--appendonly", "yes", "--appendfsync", "everysec", "--save", "")
        .redirectErrorStream(true).redirectOutput(dir.resolve("redis.log").toFile()).start();
    for (int i = 0; i < 200; i++) {
      if (run(List.of(binary("redis-cli"), "-p", Integer.toString(port), "PING")).contains("PONG")) {
        return;
      }
      Thread.sleep(50);
    }
    throw new IOException("redis-server did not answer within 10 s; see " + dir.resolve("redis.log"));
  }

  String url() {
    return "redis://127.0.0.1:" + port + "/0";
  }

  /**
   * Raw Redis rate for the same work a lease cycle does in its simplest form: SET NX PX, then
   * DEL, each measured by redis-benchmark with {@code clients} connections.
   *
   * @return {setPerSecond, delPerSecond}
   */
  double[] setNxPxDel(int clients, int requests) throws IOException, InterruptedException {
    String port = Integer.toString(this.port);
    double set = rps(run(List.of(binary("redis-benchmark"), "-p", port, "-c", Integer.toString(clients), "-n",
        Integer.toString(requests), "-r", "1000000", "-q", "SET", "bench:__rand_int__", "v", "NX", "PX", "300000")));
    double del = rps(run(List.of(binary("redis-benchmark"), "-p", port, "-c", Integer.toString(clients), "-n",
        Integer.toString(requests), "-r", "1000000", "-q", "DEL", "bench:__rand_int__")));
    return new double[] {set, del};
  }

  private static double rps(String out) throws IOException {
    // e.g. "SET bench:__rand_int__ v NX PX 300000: 61349.69 requests per second, p50=0.135 msec"
    for (String line : out.split("[\\r\\n]")) {
      int at = line.indexOf(" requests per second");
      if (at > 0) {
        String before = line.substring(0, at).trim();
        return Double.parseDouble(before.substring(before.lastIndexOf(' ') + 1));
      }
    }
    throw new IOException("unexpected redis-benchmark output: " + out);
  }

  private static String run(List<String> cmd) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(new ArrayList<>(cmd)).redirectErrorStream(true).start();
    byte[] out = p.getInputStream().readAllBytes();
    p.waitFor(120, TimeUnit.SECONDS);
    return new String(out, java.nio.charset.StandardCharsets.UTF_8);
  }

  private static String binary(String name) throws IOException {
    for (String d : System.getenv().getOrDefault("PATH", "/usr/bin").split(":")) {
      if (Files.isExecutable(Path.of(d, name))) {
        return Path.of(d, name).toString();
      }
    }
    throw new IOException(name + " not found (apt-get install -y redis-server)");
  }

  @Override
  public void close() throws InterruptedException {
    process.destroy();
    process.waitFor(10, TimeUnit.SECONDS);
  }
}
