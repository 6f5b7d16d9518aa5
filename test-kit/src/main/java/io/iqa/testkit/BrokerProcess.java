package io.iqa.testkit;

import io.vertx.core.json.JsonObject;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The broker launcher in its own JVM, as an operator runs it, so a test can kill -9 it. */
public final class BrokerProcess implements AutoCloseable {

  private static final Pattern LISTENING = Pattern.compile("listening on http://127\\.0\\.0\\.1:(\\d+)");
  private static final HttpClient HTTP = HttpClient.newHttpClient();

  public final Process process;
  public final int port;
  private final Path conf;
  private final Map<String, String> env;
  private final StringBuffer log = new StringBuffer();

  /** Starts {@code --fresh} with {@code config} written to a file; waits for the "listening" line. */
  public BrokerProcess(JsonObject config, Path dir) throws IOException {
    this(config, dir, Map.of());
  }

  /** @param env variables added to the broker's environment (a PATH with a stand-in nvidia-smi first) */
  public BrokerProcess(JsonObject config, Path dir, Map<String, String> env) throws IOException {
    this(writeConf(config.copy().put("port", 0), dir), true, withStateHome(env, dir));
  }

  /** A broker whose config names no state file keeps it under XDG_STATE_HOME: the test's folder, never the user's. */
  private static Map<String, String> withStateHome(Map<String, String> env, Path dir) {
    Map<String, String> all = new java.util.HashMap<>(env);
    all.putIfAbsent("XDG_STATE_HOME", dir.toAbsolutePath().resolve("xdg-state").toString());
    return all;
  }

  private BrokerProcess(Path conf, boolean fresh, Map<String, String> env) throws IOException {
    this(conf, fresh, env, List.of());
  }

  private BrokerProcess(Path conf, boolean fresh, Map<String, String> env, List<String> prefix) throws IOException {
    this.conf = conf;
    this.env = Map.copyOf(env);
    List<String> args = new ArrayList<>(List.of("--conf", conf.toString()));
    if (fresh) {
      args.add("--fresh");
    }
    process = launch(env, prefix, args.toArray(new String[0]));
    BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
    String line = out.readLine();
    Matcher m = line == null ? null : LISTENING.matcher(line);
    if (m == null || !m.find()) {
      process.destroyForcibly();
      throw new IOException("broker did not start: " + line + " / "
          + new String(process.getErrorStream().readNBytes(4000), StandardCharsets.UTF_8));
    }
    port = Integer.parseInt(m.group(1));
    // Keep reading stderr (the log) so a chatty broker never blocks on a full pipe.
    Thread drain = new Thread(() -> {
      try (BufferedReader err = new BufferedReader(new InputStreamReader(process.getErrorStream(),
          StandardCharsets.UTF_8))) {
        for (String l = err.readLine(); l != null; l = err.readLine()) {
          log.append(l).append('\n');
        }
      } catch (IOException ignored) {
        // process gone
      }
    }, "broker-stderr-" + port);
    drain.setDaemon(true);
    drain.start();
  }

  /** @return what the broker logged so far (its stderr), line by line */
  public String log() {
    return log.toString();
  }

  /**
   * Waits up to 10 s until the log holds {@code text}: lines logged before the "listening" line
   * may still be in the pipe when the test looks (read by a thread started after it).
   */
  public boolean logShows(String text) {
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (!log.toString().contains(text) && System.nanoTime() < deadline) {
      Pauses.sleep(20);
    }
    return log.toString().contains(text);
  }

  /** The same broker started again on the same port and config (after {@link #kill9()}), as a restart. */
  public BrokerProcess restart(boolean fresh) throws IOException {
    return restart(fresh, null);
  }

  /**
   * {@link #restart(boolean)} with the wall clock stepped by {@code clockStep} ({@code +600s},
   * {@code -600s}; null for none): the broker runs under Debian's libfaketime (preloaded into the
   * JVM itself, so killing the process kills the broker). It moves CLOCK_MONOTONIC by the same
   * constant, which no process can tell from a monotonic clock that started elsewhere; only the wall
   * clock's step is seen (faking the wall clock alone makes the JVM's timed waits spin).
   */
  public BrokerProcess restart(boolean fresh, String clockStep) throws IOException {
    JsonObject config = new JsonObject(Files.readString(conf)).put("port", port);
    Files.writeString(conf, config.encode());
    if (clockStep == null) {
      return new BrokerProcess(conf, fresh, env);
    }
    Map<String, String> stepped = new java.util.HashMap<>(env);
    stepped.putAll(faketime(clockStep));
    return new BrokerProcess(conf, fresh, stepped, List.of());
  }

  /**
   * @return the environment that runs a process under Debian's libfaketime with its clocks moved by
   *     {@code step} (scripts/test installs faketime); the test is skipped where it is missing
   */
  public static Map<String, String> faketime(String step) {
    try (java.util.stream.Stream<Path> libs = Files.list(Path.of("/usr/lib"))) {
      Path lib = libs.map(d -> d.resolve("faketime/libfaketime.so.1")).filter(Files::isRegularFile).findFirst()
          .orElseThrow(() -> new org.opentest4j.TestAbortedException(
              "Debian's faketime is not installed (scripts/test installs it)"));
      return Map.of("LD_PRELOAD", lib.toString(), "FAKETIME", step);
    } catch (IOException e) {
      throw new org.opentest4j.TestAbortedException("cannot look for libfaketime: " + e);
    }
  }

  private static Path writeConf(JsonObject config, Path dir) throws IOException {
    Path conf = Files.createTempFile(dir, "broker", ".json");
    Files.writeString(conf, config.copy().put("host", "127.0.0.1").encode());
    return conf;
  }

  public static Process launch(Map<String, String> env, String... args) throws IOException {
    return launch(env, List.of(), args);
  }

  public static Process launch(Map<String, String> env, List<String> prefix, String... args) throws IOException {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> cmd = new ArrayList<>(prefix);
    // A test classpath with more than one logback.xml (the broker's and the sidecar's jars) makes
    // logback print its status on stdout, ahead of the listening line: keep stdout the broker's.
    cmd.addAll(List.of(java, "-Dlogback.statusListenerClass=ch.qos.logback.core.status.NopStatusListener",
        "-cp", System.getProperty("java.class.path"), "io.iqa.broker.BrokerMain"));
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd);
    pb.environment().putAll(env);
    return pb.start();
  }

  /** POSTs JSON; the future fails with an IOException when the broker dies before answering. */
  public CompletableFuture<HttpResponse<String>> postAsync(String path, JsonObject body) {
    return HTTP.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(body.encode())).build(), HttpResponse.BodyHandlers.ofString());
  }

  public HttpResponse<String> post(String path, JsonObject body) throws Exception {
    return postAsync(path, body).get(60, TimeUnit.SECONDS);
  }

  public JsonObject get(String path) throws Exception {
    return new JsonObject(HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).build(),
        HttpResponse.BodyHandlers.ofString()).body());
  }

  public void kill9() throws InterruptedException {
    process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
  }

  @Override
  public void close() throws InterruptedException {
    kill9();
  }
}
