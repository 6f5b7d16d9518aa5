package io.iqa.sidecar.service;

import io.iqa.sidecar.SidecarMain;
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

/** {@code iqa-sidecar serve} in its own JVM, as an operator runs it, so tests can kill -9 it. */
final class SidecarProcess implements AutoCloseable {

  private static final Pattern LISTENING = Pattern.compile("listening on http://127\\.0\\.0\\.1:(\\d+)");
  static final HttpClient HTTP = HttpClient.newHttpClient();

  final Process process;
  final Path stderr;
  int port;

  SidecarProcess(JsonObject config, Path dir) throws IOException {
    this(config, dir, List.of(), Map.of());
  }

  SidecarProcess(JsonObject config, Path dir, List<String> jvmArgs) throws IOException {
    this(config, dir, jvmArgs, Map.of());
  }

  /**
   * @param jvmArgs e.g. {@code -Xmx512m}
   * @param env variables added to the sidecar's environment (its worker inherits them)
   */
  SidecarProcess(JsonObject config, Path dir, List<String> jvmArgs, Map<String, String> env) throws IOException {
    Path conf = Files.createTempFile(dir, "sidecar", ".json");
    JsonObject written = config.copy();
    if (!written.containsKey("port")) {
      written.put("port", 0);
    }
    // These tests are about processes and leases: the warm-up (SidecarServiceTest covers it) only
    // makes every start and every cold start a second slower.
    JsonObject worker = written.getJsonObject("worker", new JsonObject());
    if (!worker.containsKey("warmup")) {
      written.put("worker", worker.copy().put("warmup", false));
    }
    Files.writeString(conf, written.encode());
    stderr = Files.createTempFile(dir, "sidecar", ".log");
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
    cmd.addAll(jvmArgs);
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), SidecarMain.class.getName(), "serve", "--conf",
        conf.toString()));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(stderr.toFile());
    pb.environment().putAll(env);
    process = pb.start();
  }

  /** Waits for the listening line. @throws IOException with the sidecar's stderr when it did not start */
  SidecarProcess awaitListening() throws IOException {
    BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
    StringBuilder seen = new StringBuilder();
    for (String line = out.readLine(); line != null; line = out.readLine()) {
      Matcher m = LISTENING.matcher(line);
      if (m.find()) {
        port = Integer.parseInt(m.group(1));
        return this;
      }
      seen.append(line).append('\n');
    }
    throw new IOException("sidecar did not start; stdout:\n" + seen + "stderr:\n" + log());
  }

  String log() throws IOException {
    return Files.readString(stderr);
  }

  CompletableFuture<HttpResponse<String>> inferAsync(byte[] image) {
    return HTTP.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/infer"))
        .header("Content-Type", "image/jpeg").POST(HttpRequest.BodyPublishers.ofByteArray(image)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  HttpResponse<String> post(String path) throws Exception {
    return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
  }

  JsonObject health() throws Exception {
    return new JsonObject(HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/health")).build(),
        HttpResponse.BodyHandlers.ofString()).body());
  }

  /** @return the exit code, or fails when the process is still running after {@code seconds} */
  int awaitExit(long seconds) throws Exception {
    if (!process.waitFor(seconds, TimeUnit.SECONDS)) {
      throw new AssertionError("the sidecar is still running after " + seconds + " s\n" + log());
    }
    return process.exitValue();
  }

  /** SIGTERM first, as operators stop it (it cleans up after itself); SIGKILL only if that hangs. */
  @Override
  public void close() throws InterruptedException {
    process.destroy();
    if (!process.waitFor(20, TimeUnit.SECONDS)) {
      process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }
  }
}
