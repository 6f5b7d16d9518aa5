package io.iqa.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The operator's scripts as an operator runs them, from another folder, after {@code package}. */
class ScriptsIT {

  private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();

  @TempDir
  Path dir;

  private record Run(int exit, String out) {
  }

  private Run script(Map<String, String> env, String name, String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("bash", ROOT.resolve("scripts").resolve(name).toString()));
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true);
    pb.environment().putAll(env);
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(120, TimeUnit.SECONDS), name + " did not finish: " + out);
    return new Run(p.exitValue(), out);
  }

  @Test
  void everyScriptAnswersHelpAndDoesNothingElse() throws Exception {
    Path runDir = dir.resolve("run");
    List<String> names;
    try (Stream<Path> s = Files.list(ROOT.resolve("scripts"))) {
      names = s.map(p -> p.getFileName().toString()).filter(n -> !n.endsWith(".sh")).sorted().toList();
    }
    assertTrue(names.containsAll(List.of("broker-start", "broker-stop", "sidecar-start", "sidecar-stop", "demo",
        "gpu-status", "gpu-force-release", "iqa", "bench", "test", "gpu-check")), names.toString());
    for (String name : names) {
      Run help = script(Map.of("IQA_RUN_DIR", runDir.toString(), "GPU_LEASE_URL", "http://127.0.0.1:1"), name,
          "--help");
      assertEquals(0, help.exit(), name + " --help: " + help.out());
      assertTrue(help.out().length() > 40, name + " --help says how to use it: " + help.out());
      assertFalse(help.out().contains("building") || help.out().contains("installing")
          || help.out().contains("stopped") || help.out().contains("cannot reach"), name + " --help did more: "
          + help.out());
    }
    assertFalse(Files.exists(runDir), "a --help created the run folder");
  }

  @Test
  void aServerStartsOnceAndItsEarlierLogsAreKept() throws Exception {
    Map<String, String> env = Map.of("IQA_RUN_DIR", dir.resolve("run").toString());
    Path conf = Files.writeString(dir.resolve("broker.json"), "{\"port\": 0}");
    try {
      Run first = script(env, "broker-start", "--conf=" + conf, "--fresh");
      assertEquals(0, first.exit(), first.out());
      assertTrue(first.out().contains("listening on http://127.0.0.1:"), first.out());
      Run second = script(env, "broker-start", "--conf", conf.toString(), "--fresh");
      assertEquals(1, second.exit(), second.out());
      assertTrue(second.out().contains("already running"), second.out());
      assertEquals(0, script(env, "broker-stop").exit());
      assertEquals(0, script(env, "broker-start", "--conf", conf.toString(), "--fresh").exit());
    } finally {
      script(env, "broker-stop");
    }
    Path log = dir.resolve("run/broker.log");
    Path earlier = dir.resolve("run/broker.log.1");
    assertTrue(Files.exists(earlier), "the first start's log is kept as broker.log.1");
    for (Path l : List.of(log, earlier)) {
      String first = firstLine(l);
      assertTrue(first.matches("^\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2}\\.\\d{3} started by broker-start: .*"), first);
    }
    assertTrue(Files.readString(earlier).contains("listening on"), "the earlier run's own lines");
  }

  /**
   * Round 3: the scripts read GPU_LEASE_URL, {@code iqa gpu run} did not and went to port 8470.
   * Now both reach a broker named only by it; the old IQA_CLIENT_BROKER_URL still works, loses to
   * it, and says which name to use.
   */
  @Test
  void theScriptsAndIqaReachABrokerNamedOnlyByGpuLeaseUrl() throws Exception {
    io.vertx.core.Vertx vertx = io.vertx.core.Vertx.vertx();
    try {
      io.iqa.broker.BrokerVerticle b = new io.iqa.broker.BrokerVerticle(io.iqa.broker.BrokerOptions.read(
          new io.vertx.core.json.JsonObject().put("port", 0).put("gpus", new io.vertx.core.json.JsonArray()
              .add(new io.vertx.core.json.JsonObject().put("index", 0).put("vram_mb", 0)))), true);
      vertx.deployVerticle(b).await(60, TimeUnit.SECONDS);
      Map<String, String> env = Map.of("GPU_LEASE_URL", "http://127.0.0.1:" + b.actualPort());
      Run status = script(env, "gpu-status");
      assertEquals(0, status.exit(), status.out());
      Run run = script(env, "iqa", "gpu", "run", "--owner", "env-test", "--", "true");
      assertEquals(0, run.exit(), run.out());
      assertTrue(run.out().contains("lease 1 on gpu 0 (owner env-test"), run.out());
      Run both = script(Map.of("GPU_LEASE_URL", env.get("GPU_LEASE_URL"), "IQA_CLIENT_BROKER_URL",
          "http://127.0.0.1:1"), "iqa", "gpu", "run", "--owner", "env-test", "--", "true");
      assertEquals(0, both.exit(), both.out());
      assertTrue(both.out().contains("IQA_CLIENT_BROKER_URL is deprecated: set GPU_LEASE_URL")
          && both.out().contains("GPU_LEASE_URL is set too and wins"), both.out());
    } finally {
      vertx.close().await(60, TimeUnit.SECONDS);
    }
  }

  private static String firstLine(Path p) throws IOException {
    return Files.readAllLines(p).get(0);
  }
}
