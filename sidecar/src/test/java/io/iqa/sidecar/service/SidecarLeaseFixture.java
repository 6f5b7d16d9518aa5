package io.iqa.sidecar.service;

import io.iqa.broker.LocalBroker;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real broker (in this JVM) and real sidecar processes (front and GPU worker) for the lease
 * tests: {@code lease.required} makes the sidecar lease on this CPU-only machine as it would on a
 * GPU one. Two test classes share it, so the suite runs them side by side.
 */
abstract class SidecarLeaseFixture {

  @TempDir
  Path dir;
  private Vertx vertx;
  String brokerUrl;
  private final List<SidecarProcess> sidecars = new ArrayList<>();

  @BeforeEach
  void startBroker() {
    vertx = Vertx.vertx();
    brokerUrl = LocalBroker.start(vertx, 1, new JsonObject().put("reaper_interval_ms", 200));
  }

  @AfterEach
  void stop() throws Exception {
    for (SidecarProcess s : sidecars) {
      s.close();
    }
    SidecarServiceTest.await(vertx.close());
  }

  JsonObject config(JsonObject extra) {
    return new JsonObject()
        .put("models", new JsonArray().add(new JsonObject().put("name", "tech_sharpness").put("backend", "builtin"))
            .add(new JsonObject().put("name", "tech_noise").put("backend", "builtin")))
        .put("broker", new JsonObject().put("url", brokerUrl))
        .put("lease", new JsonObject().put("owner", "iqa-sidecar-test").put("ttl_s", 3).put("required", true))
        .mergeIn(extra, true);
  }

  SidecarProcess sidecar(JsonObject extra) throws Exception {
    SidecarProcess s = new SidecarProcess(config(extra), dir);
    sidecars.add(s);
    return s.awaitListening();
  }

  JsonObject brokerGet(String path) throws Exception {
    return new JsonObject(SidecarProcess.HTTP.send(HttpRequest.newBuilder(URI.create(brokerUrl + path)).build(),
        HttpResponse.BodyHandlers.ofString()).body());
  }

  JsonArray leases() throws Exception {
    return brokerGet("/v1/gpu/status").getJsonArray("gpus").getJsonObject(0).getJsonArray("leases");
  }

  List<JsonObject> events(String type) throws Exception {
    return brokerGet("/v1/gpu/events").getJsonArray("events").stream().map(JsonObject.class::cast)
        .filter(e -> e.getString("type").equals(type)).toList();
  }

  void forceRelease() throws Exception {
    SidecarProcess.HTTP.send(HttpRequest.newBuilder(URI.create(brokerUrl + "/v1/gpu/force_release"))
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString("{\"owner\":\"iqa-sidecar-test\",\"reason\":\"operator needs the GPU\"}"))
        .build(), HttpResponse.BodyHandlers.ofString());
  }

  /** Polls /health until {@code until} holds (20 s at most); a timeout shows the last /health and the log. */
  static JsonObject awaitHealth(SidecarProcess s, Predicate<JsonObject> until) {
    JsonObject[] last = new JsonObject[1];
    await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(50)).untilAsserted(() -> {
      last[0] = s.health();
      assertTrue(until.test(last[0]), "last /health: " + last[0].encode() + "\n" + s.log());
    });
    return last[0];
  }

  static boolean alive(long pid) {
    return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
  }

  /** The worker's environment, as the kernel shows it. */
  static String environ(long pid) throws Exception {
    return "\n" + new String(Files.readAllBytes(Path.of("/proc", Long.toString(pid), "environ")),
        StandardCharsets.UTF_8).replace('\0', '\n') + "\n";
  }
}
