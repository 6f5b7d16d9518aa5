package io.iqa.sidecar.service;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.testkit.BrokerProcess;
import io.iqa.testkit.StandInNvidiaSmi;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the broker's GPU observer sees of a sidecar through a sharing cycle: a real broker process
 * with a stand-in nvidia-smi first on its PATH that lists, as a driver would, every live process
 * started for a lease on gpu 0; a real sidecar process. Its worker's memory counts as its lease's
 * while it serves, disappears with the worker at the idle release, and is never unleased.
 */
class SidecarObservedTest {

  @TempDir
  Path dir;

  @Test
  void theWorkersMemoryIsTheLeasesWhileItServesAndGoneAfterTheIdleRelease() throws Exception {
    StandInNvidiaSmi smi = new StandInNvidiaSmi(dir.resolve("smi"), Map.of(0, 24576));
    smi.showLeasedProcesses(0, 700);
    JsonObject brokerConfig = new JsonObject().put("observe_interval_ms", 100)
        .put("gpus", new JsonArray().add(new JsonObject().put("index", 0).put("vram_mb", 24576)));
    try (BrokerProcess broker = new BrokerProcess(brokerConfig, dir, smi.pathEnv());
        SidecarProcess sidecar = new SidecarProcess(new JsonObject()
            .put("models", new JsonArray().add(new JsonObject().put("name", "tech_sharpness").put("backend", "builtin")))
            .put("broker", new JsonObject().put("url", "http://127.0.0.1:" + broker.port))
            .put("lease", new JsonObject().put("required", true).put("ttl_s", 10))
            .put("idle_release_s", 1), dir, List.of(), smi.scopeEnv())) {
      sidecar.awaitListening();
      assertEquals(200, sidecar.inferAsync(SidecarServiceTest.jpeg(11)).get(30, java.util.concurrent.TimeUnit.SECONDS)
          .statusCode());
      long worker = sidecar.health().getJsonObject("worker").getLong("pid");
      JsonObject serving = awaitGpu(broker, g -> !g.getJsonArray("leases").isEmpty()
          && g.getJsonArray("leases").getJsonObject(0).getInteger("observed_vram_mb", 0) == 700);
      JsonObject process = serving.getJsonObject("observed").getJsonArray("processes").getJsonObject(0);
      assertEquals(worker, process.getLong("pid"), serving.encode());
      assertEquals(serving.getJsonArray("leases").getJsonObject(0).getLong("lease_id"), process.getLong("lease_id"));

      SidecarLeaseTest.awaitHealth(sidecar, h -> "idle".equals(h.getString("state")));
      JsonObject idle = awaitGpu(broker, g -> g.getJsonArray("leases").isEmpty()
          && g.getJsonObject("observed").getJsonArray("processes").isEmpty());
      assertTrue(idle.getJsonObject("observed").getJsonArray("unleased").isEmpty(), idle.encode());
      assertFalse(SidecarLeaseTest.alive(worker));
      Thread.sleep(500); // a few more samples
      assertFalse(broker.get("/v1/gpu/events").encode().contains("unleased_gpu_use"),
          "the sidecar's worker must never use the GPU without a lease: " + broker.get("/v1/gpu/events"));
    }
  }

  private static JsonObject awaitGpu(BrokerProcess broker, Predicate<JsonObject> until) {
    JsonObject[] gpu = new JsonObject[1];
    await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(50)).untilAsserted(() -> {
      gpu[0] = broker.get("/v1/gpu/status").getJsonArray("gpus").getJsonObject(0);
      assertTrue(gpu[0].getJsonObject("observed") != null && until.test(gpu[0]), "last gpu 0 status: "
          + gpu[0].encode());
    });
    return gpu[0];
  }
}
