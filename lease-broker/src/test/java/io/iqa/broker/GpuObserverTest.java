package io.iqa.broker;

import io.iqa.testkit.Cleanup;
import io.iqa.testkit.BrokerProcess;
import io.iqa.testkit.StandInNvidiaSmi;
import io.iqa.testkit.Promtool;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.testkit.StandInNvidiaSmi.App;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The broker's GPU observer, in a real broker process whose PATH starts with a stand-in nvidia-smi
 * that lists real processes of this host: a lease's holder and its children are its own, a process
 * that carries the lease's GPU_LEASE_ID is too, anything else uses the GPU without a lease.
 */
class GpuObserverTest {

  @TempDir
  Path dir;
  @AutoClose
  final Cleanup cleanup = new Cleanup();

  private Process start(Map<String, String> env, String... command) throws Exception {
    ProcessBuilder pb = new ProcessBuilder(command);
    pb.environment().putAll(env);
    return cleanup.kill(pb.start());
  }

  @Test
  void showsEachLeasesObservedMemoryAndEveryUnleasedProcessOnceAsAnEvent() throws Exception {
    StandInNvidiaSmi smi = new StandInNvidiaSmi(dir.resolve("smi"), Map.of(0, 24576, 1, 24576));
    JsonObject config = new JsonObject()
        .put("gpus", new JsonArray().add(new JsonObject().put("index", 0).put("vram_mb", 24576))
            .add(new JsonObject().put("index", 1).put("vram_mb", 24576)))
        .put("observe_interval_ms", 150);
    try (BrokerProcess broker = new BrokerProcess(config, dir, smi.pathEnv())) {
      // A holder whose GPU work runs in its child, as the sidecar's worker does.
      Process holder = start(Map.of(), "bash", "-c", "sleep 120 & wait");
      long worker = await(() -> holder.children().findFirst().map(ProcessHandle::pid).orElse(null));
      JsonObject lease = new JsonObject(broker.post("/v1/gpu/lease", new JsonObject().put("owner", "sidecar")
          .put("gpu", 0).put("vram_mb", 4000).put("pid", holder.pid()).put("ttl_s", 120)).body());
      long leaseId = lease.getLong("lease_id");
      Process container = start(Map.of("GPU_LEASE_ID", Long.toString(leaseId)), "sleep", "120");
      Process rogue = start(Map.of(), "sleep", "120");
      smi.show(List.of(new App(0, worker, 3000), new App(0, container.pid(), 500), new App(1, rogue.pid(), 1234)));

      JsonObject status = awaitStatus(broker, s -> gpu(s, 1).getJsonObject("observed").getJsonArray("unleased")
          .size() == 1);
      JsonObject held = gpu(status, 0).getJsonArray("leases").getJsonObject(0);
      assertEquals(4000, held.getInteger("vram_mb"));
      assertEquals(3500, held.getInteger("observed_vram_mb"), "the child's 3000 MiB and the container's 500: "
          + status);
      assertEquals(0, gpu(status, 0).getJsonObject("observed").getJsonArray("unleased").size(), status.encode());
      JsonObject unleased = gpu(status, 1).getJsonObject("observed").getJsonArray("unleased").getJsonObject(0);
      assertEquals(rogue.pid(), unleased.getLong("pid"));
      assertEquals(1234, unleased.getInteger("used_mb"));
      assertEquals("sleep", unleased.getString("command"));
      assertNull(unleased.getLong("lease_id"));

      String metrics = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
          URI.create("http://127.0.0.1:" + broker.port + "/metrics")).build(), HttpResponse.BodyHandlers.ofString())
          .body();
      assertTrue(metrics.contains("gpu_lease_unleased_processes{gpu=\"1\"} 1.0"), metrics);
      assertTrue(metrics.contains("gpu_lease_unleased_processes{gpu=\"0\"} 0.0"), metrics);
      assertTrue(metrics.contains("gpu_lease_unleased_vram_bytes{gpu=\"1\"} " + 1234.0 * 1024 * 1024), metrics);
      assertTrue(metrics.contains("gpu_lease_observed_vram_bytes{gpu=\"0\"} " + 3500.0 * 1024 * 1024), metrics);
      Promtool.assertLintClean(metrics);

      long samples = smi.sampleCount();
      await(() -> smi.sampleCount() >= samples + 3 ? true : null);
      List<JsonObject> events = broker.get("/v1/gpu/events").getJsonArray("events").stream()
          .map(JsonObject.class::cast).filter(e -> e.getString("type").equals(io.iqa.broker.store.LeaseEventType.UNLEASED_GPU_USE.wireName())).toList();
      assertEquals(1, events.size(), "one event per unleased process, however many samples see it: " + events);
      assertEquals(1, events.get(0).getInteger("gpu"));
      assertEquals(0, events.get(0).getLong("lease_id"));
      assertTrue(events.get(0).getString("reason").contains("pid " + rogue.pid()), events.get(0).encode());
      assertTrue(broker.logShows("without a lease"), broker.log());

      // Once the GPU memory is gone, so is the process from the status; the lease shows no use.
      smi.show(List.of());
      JsonObject after = awaitStatus(broker, s -> gpu(s, 1).getJsonObject("observed").getJsonArray("processes")
          .isEmpty());
      assertNull(gpu(after, 0).getJsonArray("leases").getJsonObject(0).getValue("observed_vram_mb"));
    }
  }

  @Test
  void withoutNvidiaSmiTheStatusHasNoObservedBlock() throws Exception {
    JsonObject config = new JsonObject().put("gpus", new JsonArray().add(new JsonObject().put("index", 0)))
        .put("observe_interval_ms", 100).put("nvidia_smi", dir.resolve("no-such-nvidia-smi").toString());
    try (BrokerProcess broker = new BrokerProcess(config, dir)) {
      await(() -> broker.log().contains("not observing GPU memory") ? true : null);
      assertNull(gpu(broker.get("/v1/gpu/status"), 0).getValue("observed"));
    }
  }

  private static JsonObject gpu(JsonObject status, int index) {
    return status.getJsonArray("gpus").getJsonObject(index);
  }

  private static JsonObject awaitStatus(BrokerProcess broker, Predicate<JsonObject> until) throws Exception {
    return await(() -> {
      JsonObject s = broker.get("/v1/gpu/status");
      return gpu(s, 0).getValue("observed") != null && until.test(s) ? s : null;
    });
  }

  interface Probe<T> {
    T get() throws Exception;
  }

  private static <T> T await(Probe<T> probe) {
    return Awaitility.await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(50))
        .until(probe::get, java.util.Objects::nonNull);
  }
}
