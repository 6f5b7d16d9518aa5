package io.iqa.bench;

import io.iqa.protocol.ListeningLine;
import io.vertx.core.json.JsonObject;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/** {@code iqa-sidecar serve} as its own process (front and worker), as an operator runs it. */
final class SidecarRun implements AutoCloseable {

  static final HttpClient HTTP = HttpClient.newHttpClient();

  final Process process;
  final String url;
  /** From starting the process to its "listening" line. */
  final long startMs;

  /** Its log (stderr). */
  final Path log;

  private SidecarRun(Process process, String url, long startMs, Path log) {
    this.log = log;
    this.process = process;
    this.url = url;
    this.startMs = startMs;
  }

  /** Starts it with {@code config} (port 0 unless given) and waits for its "listening" line. */
  static SidecarRun start(JsonObject config, Path dir) throws Exception {
    return start(config, dir, System.getProperty("java.class.path"), java.util.Map.of());
  }

  /** @param classpath the sidecar build to run (its jar) @param env added to its environment */
  static SidecarRun start(JsonObject config, Path dir, String classpath, java.util.Map<String, String> env)
      throws Exception {
    Path conf = Files.createTempFile(dir, "sidecar", ".json");
    Files.writeString(conf, config.copy().put("port", config.getInteger("port", 0)).encode());
    Path log = Files.createTempFile(dir, "sidecar", ".log");
    long t0 = System.nanoTime();
    ProcessBuilder pb = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
        classpath, io.iqa.sidecar.SidecarMain.class.getName(), "serve", "--conf", conf.toString())
        .redirectError(log.toFile());
    pb.environment().putAll(env);
    Process p = pb.start();
    BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream()));
    for (String line = out.readLine(); line != null; line = out.readLine()) {
      String url = ListeningLine.url(line);
      if (url != null) {
        return new SidecarRun(p, url, (System.nanoTime() - t0) / 1_000_000, log);
      }
    }
    throw new IllegalStateException("the sidecar did not start:\n" + Files.readString(log));
  }

  /** POSTs a JPEG to /infer. @return the answer, or fails on anything but 200 */
  JsonObject infer(byte[] jpeg) throws Exception {
    HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(url + "/infer"))
        .header("Content-Type", "image/jpeg").POST(HttpRequest.BodyPublishers.ofByteArray(jpeg)).build(),
        HttpResponse.BodyHandlers.ofString());
    if (r.statusCode() != 200) {
      throw new IllegalStateException("/infer -> " + r.statusCode() + " " + r.body());
    }
    return new JsonObject(r.body());
  }

  /** @return {@code src} with {@code n} after its end marker: a new image to the cache, the same to a decoder */
  static byte[] distinct(byte[] src, int n) {
    byte[] img = java.util.Arrays.copyOf(src, src.length + 4);
    for (int i = 0; i < 4; i++) {
      img[src.length + i] = (byte) (n >> (24 - 8 * i));
    }
    return img;
  }

  /** @return per stage of {@code iqa_infer_stage_seconds}, its sum (s) and count, from /metrics now */
  java.util.Map<String, double[]> stages() throws Exception {
    return stages(url);
  }

  /** {@link #stages()} of the sidecar at {@code url} (one in this process, say). */
  static java.util.Map<String, double[]> stages(String url) throws Exception {
    String text = HTTP.send(HttpRequest.newBuilder(URI.create(url + "/metrics")).build(),
        HttpResponse.BodyHandlers.ofString()).body();
    java.util.Map<String, double[]> out = new java.util.LinkedHashMap<>();
    java.util.regex.Matcher m = java.util.regex.Pattern.compile(
        "(?m)^iqa_infer_stage_seconds_(sum|count)\\{stage=\"([a-z_]+)\",?\\} ([0-9.eE+-]+)$").matcher(text);
    while (m.find()) {
      out.computeIfAbsent(m.group(2), k -> new double[2])[m.group(1).equals("sum") ? 0 : 1] = Double.parseDouble(m.group(3));
    }
    return out;
  }

  /**
   * @return the mean ms per image of each stage between two {@link #stages()} snapshots, in the
   *     order an image passes them, and {@code rest}: what the clients waited beyond them (HTTP, the
   *     event loop, the answer)
   */
  static String stageMeans(java.util.Map<String, double[]> before, java.util.Map<String, double[]> after,
      double clientMeanMs) {
    StringBuilder sb = new StringBuilder();
    double inFront = 0;
    for (String stage : java.util.List.of("hash", "front_queue", "decode", "batch_wait", "model", "worker")) {
      double[] a = after.getOrDefault(stage, new double[2]);
      double[] b = before.getOrDefault(stage, new double[2]);
      double n = a[1] - b[1];
      double mean = n <= 0 ? Double.NaN : (a[0] - b[0]) * 1000 / n;
      if (stage.equals("hash") || stage.equals("front_queue") || stage.equals("worker")) {
        inFront += Double.isNaN(mean) ? 0 : mean;
      }
      sb.append(sb.length() == 0 ? "" : ", ").append(stage).append(String.format(" %.1f", mean));
    }
    return sb.append(String.format(", rest %.1f (ms per image; decode, batch_wait and model lie inside worker)",
        clientMeanMs - inFront)).toString();
  }

  void awaitState(String state) throws Exception {
    await("state " + state, h -> state.equals(h.getString("state")));
  }

  /** Polls /health until {@code test} holds (60 s at most). @return the /health answer that passed */
  JsonObject await(String what, java.util.function.Predicate<JsonObject> test) throws Exception {
    long deadline = System.nanoTime() + 60_000_000_000L;
    while (true) {
      JsonObject h = new JsonObject(HTTP.send(HttpRequest.newBuilder(URI.create(url + "/health")).build(),
          HttpResponse.BodyHandlers.ofString()).body());
      if (test.test(h)) {
        return h;
      }
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("the sidecar never reached " + what + ": " + h);
      }
      Thread.sleep(50);
    }
  }

  @Override
  public void close() throws Exception {
    process.destroy();
    process.waitFor(60, TimeUnit.SECONDS);
  }
}
