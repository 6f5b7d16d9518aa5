package io.iqa.demo;

import io.iqa.testkit.serve.StandInModelServer;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * The demo's model server on demand: {@code iqa gpu serve --adapter vllm} in front of the stand-in
 * vLLM ({@link StandInModelServer}: vLLM's sleep endpoints, 8000 MiB of "GPU memory" while awake,
 * 300 MiB asleep), which the front starts on the leased GPU at the first request.
 */
final class LlmFront {

  private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  private LlmFront() {
  }

  static Started start(Path root, String brokerUrl, Path gpuMemory, Path work) throws Exception {
    int upstream;
    try (ServerSocket s = new ServerSocket(0)) {
      upstream = s.getLocalPort();
    }
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    return Started.start("iqa-gpu-serve", root.resolve("iqa-cli/target/iqa.jar"), List.of("gpu", "serve",
        "--listen", "127.0.0.1:0", "--upstream", "http://127.0.0.1:" + upstream, "--owner", "llm", "--adapter", "vllm",
        "--idle-release-s", "0", "--ttl-s", "30", "--sleep-timeout-s", "10", "--", java, "-Xmx64m", "-cp",
        root.resolve("demo/target/iqa-demo.jar").toString(), StandInModelServer.class.getName(), "--flavor", "vllm",
        "--port", Integer.toString(upstream), "--mem-dir", gpuMemory.toString(), "--load-ms", "1500"),
        Map.of("GPU_LEASE_URL", brokerUrl), work);
  }

  /** @return the stand-in's answer text to one completion through the front */
  static String complete(String frontUrl) throws Exception {
    HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(frontUrl + "/v1/completions"))
        .timeout(Duration.ofSeconds(120)).header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"stand-in\",\"prompt\":\"Describe the photo.\"}"))
        .build(), HttpResponse.BodyHandlers.ofString());
    if (r.statusCode() != 200) {
      throw new IOException("the front answered " + r.statusCode() + ": " + r.body());
    }
    return new JsonObject(r.body()).getJsonArray("choices").getJsonObject(0).getString("text");
  }

  /** @return the front's worker status in a line: wake and sleep times, what stayed on the GPU, how it was checked */
  static String describe(String frontUrl) throws Exception {
    JsonObject w = new JsonObject(HTTP.send(HttpRequest.newBuilder(URI.create(frontUrl + "/iqa/status")).build(),
        HttpResponse.BodyHandlers.ofString()).body()).getJsonObject("worker");
    return "vLLM (pid " + w.getLong("pid") + ") last woke in " + w.getLong("last_wake_ms") + " ms, last slept in "
        + w.getLong("last_sleep_ms") + " ms, keeping " + w.getInteger("asleep_vram_mb") + " MiB asleep ("
        + w.getString("sleep_check") + ")";
  }
}
