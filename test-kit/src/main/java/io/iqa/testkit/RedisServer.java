package io.iqa.testkit;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real redis-server (Debian's package) on a free loopback port, with append-only persistence in
 * its own folder so a test can kill -9 it and start it again with its data.
 */
public final class RedisServer implements AutoCloseable {

  public final int port;
  public final Path dir;
  private final java.util.Map<String, String> env;
  private Process process;

  public RedisServer() throws IOException {
    this(java.util.Map.of());
  }

  /** @param env variables added to redis-server's environment (a clock step preloaded, say) */
  public RedisServer(java.util.Map<String, String> env) throws IOException {
    this.env = java.util.Map.copyOf(env);
    this.dir = Files.createTempDirectory("redis-test");
    try (ServerSocket s = new ServerSocket(0)) {
      this.port = s.getLocalPort();
    }
    start();
  }

  public String url() {
    return "redis://127.0.0.1:" + port + "/0";
  }

  /** Starts (again) on the same port and folder; waits until it answers PING. */
  public void start() throws IOException {
    if (process != null && process.isAlive()) {
      // a second server on a busy port fails, the first one answers PING and is never killed: a leak
      throw new IllegalStateException("redis-server on port " + port + " runs already (the constructor starts it)");
    }
    String binary = findBinary();
    ProcessBuilder pb = new ProcessBuilder(binary, "--port", Integer.toString(port), "--bind", "127.0.0.1",
        "--dir", dir.toString(), "--appendonly", "yes", "--appendfsync", "always", "--save", "",
        "--daemonize", "no", "--protected-mode", "yes")
        .redirectErrorStream(true)
        .redirectOutput(dir.resolve("redis.log").toFile());
    pb.environment().putAll(env);
    process = pb.start();
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new IOException("redis-server exited at start: " + Files.readString(dir.resolve("redis.log")));
      }
      if (ping()) {
        return;
      }
      Pauses.sleep(20);
    }
    throw new IOException("redis-server did not answer PING within 10 s");
  }

  /** kill -9: no shutdown, no final save. */
  public void kill() throws InterruptedException {
    process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
  }

  /** SIGSTOP: Redis holds every connection open and answers nothing (a paused VM, a wedged host). */
  public void pause() throws IOException, InterruptedException {
    signal("STOP");
  }

  /** SIGCONT after {@link #pause}. */
  public void resume() throws IOException, InterruptedException {
    signal("CONT");
  }

  private void signal(String sig) throws IOException, InterruptedException {
    new ProcessBuilder("kill", "-" + sig, Long.toString(process.pid())).inheritIO().start().waitFor();
  }

  /** Runs one command (RESP array of bulk strings) and returns Redis's raw answer. */
  public String command(String... args) throws IOException {
    StringBuilder req = new StringBuilder("*").append(args.length).append("\r\n");
    for (String a : args) {
      req.append('$').append(a.getBytes(StandardCharsets.UTF_8).length).append("\r\n").append(a).append("\r\n");
    }
    try (Socket s = new Socket("127.0.0.1", port)) {
      s.setSoTimeout(5000);
      s.getOutputStream().write(req.toString().getBytes(StandardCharsets.UTF_8));
      s.getOutputStream().flush();
      byte[] buf = new byte[65536];
      int n = s.getInputStream().read(buf);
      return n <= 0 ? "" : new String(buf, 0, n, StandardCharsets.UTF_8);
    }
  }

  /** Deletes every key under {@code prefix}: this Redis lost the lease state of that prefix. */
  public void deletePrefix(String prefix) throws IOException {
    command("EVAL", "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end return 0", "0",
        prefix + "*");
  }

  public boolean ping() {
    try (Socket s = new Socket("127.0.0.1", port)) {
      s.setSoTimeout(1000);
      OutputStream out = s.getOutputStream();
      out.write("PING\r\n".getBytes(StandardCharsets.US_ASCII));
      out.flush();
      InputStream in = s.getInputStream();
      byte[] buf = new byte[7];
      int n = in.read(buf);
      return n > 0 && new String(buf, 0, n, StandardCharsets.US_ASCII).startsWith("+PONG");
    } catch (IOException e) {
      return false;
    }
  }

  @Override
  public void close() throws InterruptedException {
    if (process != null) {
      try {
        resume(); // a paused redis-server would not die of SIGKILL until it runs again
      } catch (IOException ignored) {
        // gone already
      }
      kill();
    }
    // Its data folder goes with it (a test run starts hundreds).
    try (var files = java.nio.file.Files.walk(dir)) {
      files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException | RuntimeException ignored) {
      // temporary
    }
  }

  private static String findBinary() throws IOException {
    for (String candidate : List.of("/usr/bin/redis-server", "/usr/local/bin/redis-server")) {
      if (Files.isExecutable(Path.of(candidate))) {
        return candidate;
      }
    }
    String path = System.getenv("PATH");
    if (path != null) {
      for (String d : path.split(":")) {
        if (Files.isExecutable(Path.of(d, "redis-server"))) {
          return Path.of(d, "redis-server").toString();
        }
      }
    }
    throw new IOException("redis-server not found: these tests need a real one (apt-get install -y redis-server; "
        + ".ci/run installs it)");
  }
}
