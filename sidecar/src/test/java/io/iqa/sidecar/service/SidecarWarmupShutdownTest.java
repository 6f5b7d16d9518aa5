package io.iqa.sidecar.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Round 2: {@code /shutdown} during the worker's warm-up crashed it (SIGSEGV in libonnxruntime,
 * exit 134, an hs_err file) about 1 try in 7-10. Each try here starts a sidecar, lets its worker go
 * ({@code /release}), sends a new image (a new worker starts and warms up) and shuts the sidecar
 * down at another moment of that warm-up. {@code -Dshutdown.tries=N} for more (CI runs 20).
 */
class SidecarWarmupShutdownTest {

  @TempDir
  Path dir;

  @Test
  void shutdownsDuringTheWorkersWarmUpLeaveNoCrash() throws Exception {
    int tries = Integer.getInteger("shutdown.tries", 20);
    JsonObject config = new JsonObject()
        .put("models", new JsonArray().add(new JsonObject().put("name", "tech_sharpness").put("backend", "builtin"))
            .add(new JsonObject().put("name", "tech_noise").put("backend", "builtin")))
        .put("lease", new JsonObject().put("required", false))
        .put("worker", new JsonObject().put("warmup", true));
    List<Path> crashesBefore = crashFiles();
    for (int i = 0; i < tries; i++) {
      try (SidecarProcess s = new SidecarProcess(config, dir, List.of()).awaitListening()) {
        assertEquals(200, s.post("/release").statusCode());
        CompletableFuture<HttpResponse<String>> miss = s.inferAsync(SidecarServiceTest.jpeg(100 + i));
        Thread.sleep(50L * (i % 20)); // 0 to 950 ms into the new worker's start and warm-up
        assertEquals(202, s.post("/shutdown").statusCode());
        int exit = s.awaitExit(60);
        String log = s.log();
        assertEquals(0, exit, "try " + i + ": the sidecar exited " + exit + "\n" + log);
        assertFalse(log.contains("SIGSEGV") || log.contains("A fatal error has been detected"), "try " + i + ":\n" + log);
        miss.handle((r, e) -> null).get();
      }
    }
    List<Path> crashes = crashFiles();
    crashes.removeAll(crashesBefore);
    assertTrue(crashes.isEmpty(), "hs_err files left: " + crashes);
  }

  /** hs_err files where a crashed JVM of the test (the sidecar, its worker) would write them. */
  private List<Path> crashFiles() throws Exception {
    try (Stream<Path> here = Files.list(Path.of("")); Stream<Path> there = Files.list(dir)) {
      return new java.util.ArrayList<>(Stream.concat(here, there)
          .filter(p -> p.getFileName().toString().startsWith("hs_err")).toList());
    }
  }
}
