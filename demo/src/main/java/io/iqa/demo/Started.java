package io.iqa.demo;

import io.iqa.protocol.ListeningLine;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * A server the demo started as its own process ({@code java -jar ...}): its URL from the
 * {@code NAME listening on URL} line both servers print, its log in a file, stopped with SIGTERM.
 */
final class Started implements AutoCloseable {

  final Process process;
  final String url;

  private Started(Process process, String url) {
    this.process = process;
    this.url = url;
  }

  /** Starts {@code java -jar jar args} with {@code env} added; waits (60 s at most) until it listens. */
  static Started start(String name, Path jar, List<String> args, Map<String, String> env, Path logDir)
      throws IOException, InterruptedException {
    if (!Files.isRegularFile(jar)) {
      throw new IOException(jar + " is missing: build it with scripts/demo (or mvn -DskipTests package)");
    }
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-jar", jar.toString()));
    cmd.addAll(args);
    Path log = logDir.resolve(name + ".log");
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(log.toFile());
    pb.environment().putAll(env);
    Process p = pb.start();
    CompletableFuture<String> url = new CompletableFuture<>();
    Thread reader = new Thread(() -> {
      // Reads stdout to its end (so the server never blocks on a full pipe); the first listening line is the URL.
      try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
        for (String line; (line = out.readLine()) != null; ) {
          String listening = ListeningLine.url(line);
          if (listening != null) {
            url.complete(listening);
          }
        }
      } catch (IOException e) {
        // the process ended
      }
      url.complete(null);
    }, name + "-stdout");
    reader.setDaemon(true);
    reader.start();
    String found = null;
    try {
      found = url.get(60, TimeUnit.SECONDS);
    } catch (Exception e) {
      // not listening in time: reported below
    }
    if (found == null) {
      p.destroyForcibly();
      throw new IOException(name + " did not start; its log " + log + ":\n" + Files.readString(log));
    }
    return new Started(p, found);
  }

  long pid() {
    return process.pid();
  }

  /** SIGTERM (both servers drain and release their leases), then SIGKILL after 30 s. */
  @Override
  public void close() throws InterruptedException {
    process.destroy();
    if (!process.waitFor(30, TimeUnit.SECONDS)) {
      process.destroyForcibly();
    }
  }
}
