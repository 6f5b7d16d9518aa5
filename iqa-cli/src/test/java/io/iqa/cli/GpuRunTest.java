package io.iqa.cli;

import io.iqa.broker.LocalBroker;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.protocol.Procs;
import com.fasterxml.jackson.databind.JsonNode;
import io.iqa.client.Lease;
import io.iqa.client.LeaseClient;
import io.iqa.protocol.wire.LeaseRequest;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code iqa gpu run -- CMD} as a separate process wrapping a real child process: the child sees
 * the granted GPU, the lease lives exactly as long as the child, a revocation stops the child, and
 * the waiter gets the GPU only after the child has exited.
 */
class GpuRunTest {

  @TempDir
  Path dir;
  private Vertx vertx;
  private String brokerUrl;
  private Path conf;
  private LeaseClient broker;

  @BeforeEach
  void start() throws Exception {
    vertx = Vertx.vertx();
    brokerUrl = LocalBroker.start(vertx, 2);
    conf = dir.resolve("client.json");
    Files.writeString(conf, new JsonObject().put("broker_url", brokerUrl).encode());
    broker = new LeaseClient(brokerUrl);
  }

  @AfterEach
  void stop() throws Exception {
    broker.close();
    vertx.close().await(60, TimeUnit.SECONDS);
  }

  /**
   * A child that writes its environment, starts a grandchild, says it is ready, and on SIGTERM
   * takes 0.5 s to clean up before it writes "exited" and exits 143.
   */
  private Path child() throws Exception {
    Path script = dir.resolve("child.sh");
    Files.writeString(script, """
        #!/bin/bash
        out="$1"
        env > "$out/env"
        sleep 300 &
        echo $! > "$out/grandchild"
        trap 'echo term > "$out/got-term"; sleep 0.5; echo exited > "$out/exited"; exit 143' TERM
        echo ready > "$out/ready"
        for i in $(seq 1 600); do sleep 0.1; done
        echo exited > "$out/exited"
        exit 0
        """);
    Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwxr-xr-x"));
    return script;
  }

  private Process iqa(String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"), IqaMain.class.getName(), "--conf", conf.toString()));
    cmd.addAll(List.of(args));
    return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve("iqa.log").toFile()).start();
  }

  private void await(Path file) {
    Awaitility.await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(20)).untilAsserted(() ->
        assertTrue(Files.exists(file), file + " never appeared; iqa said:\n"
            + Files.readString(dir.resolve("iqa.log"))));
  }

  private JsonNode gpuLeases(int gpu) {
    return broker.status().path("gpus").get(gpu).path("leases");
  }

  @Test
  void theChildSeesTheGrantedGpuAndTheLeaseLivesExactlyAsLongAsTheChild() throws Exception {
    Path out = Files.createDirectories(dir.resolve("run1"));
    Path quick = dir.resolve("quick.sh");
    Files.writeString(quick, "#!/bin/bash\nenv > \"$1/env\"\necho ready > \"$1/ready\"\nsleep 1\nexit 7\n");
    Files.setPosixFilePermissions(quick, PosixFilePermissions.fromString("rwxr-xr-x"));
    try (Lease other = broker.acquire(LeaseRequest.of("someone").withGpu(0))) {
      Process iqa = iqa("gpu", "run", "--owner", "batch-7", "--ttl-s", "5", "--", quick.toString(), out.toString());
      await(out.resolve("ready"));
      JsonNode held = gpuLeases(1);
      assertEquals(1, held.size(), "while the child runs its lease must show: " + broker.status());
      assertEquals("batch-7", held.get(0).path("owner").asText());
      List<String> env = Files.readAllLines(out.resolve("env"));
      assertTrue(env.contains("CUDA_VISIBLE_DEVICES=1"), "gpu 0 is taken, so the child must get gpu 1: " + env);
      assertTrue(env.contains("GPU_LEASE_ID=" + held.get(0).path("lease_id").asText()), env.toString());
      assertTrue(iqa.waitFor(30, TimeUnit.SECONDS));
      assertEquals(7, iqa.exitValue(), "iqa gpu run returns the child's exit code\n"
          + Files.readString(dir.resolve("iqa.log")));
      assertEquals(0, gpuLeases(1).size(), "the lease must be released when the child exits");
    }
  }

  @Test
  void aForceReleaseStopsTheChildAndTheWaiterIsGrantedOnlyAfterItExited() throws Exception {
    Path out = Files.createDirectories(dir.resolve("run2"));
    Process iqa = iqa("gpu", "run", "--gpu", "0", "--ttl-s", "30", "--grace-s", "5", "--", child().toString(),
        out.toString());
    await(out.resolve("ready"));
    long leaseId = gpuLeases(0).get(0).path("lease_id").asLong();
    long grandchild = Long.parseLong(Files.readString(out.resolve("grandchild")).trim());
    AtomicBoolean childGoneAtGrant = new AtomicBoolean();
    CompletableFuture<Lease> waiter = broker.acquireAsync(LeaseRequest.of("llm-server").withGpu(0).withWait(30))
        .whenComplete((l, e) -> childGoneAtGrant.set(Files.exists(out.resolve("exited"))));
    Thread.sleep(300);
    long t0 = System.nanoTime();
    broker.forceRelease(leaseId, null, null, "the LLM needs the GPU", false);
    try (Lease granted = waiter.get(30, TimeUnit.SECONDS)) {
      assertTrue(Files.exists(out.resolve("got-term")), "the child never got SIGTERM");
      assertTrue(childGoneAtGrant.get(), "the waiter was granted before the child had exited");
      assertTrue((System.nanoTime() - t0) / 1_000_000 >= 400, "granted before the child's 0.5 s clean-up: " + Files.readString(dir.resolve("iqa.log")));
      assertTrue(iqa.waitFor(30, TimeUnit.SECONDS));
      assertEquals(143, iqa.exitValue(), "the child's exit code after SIGTERM\n"
          + Files.readString(dir.resolve("iqa.log")));
      assertFalse(ProcessHandle.of(grandchild).map(ProcessHandle::isAlive).orElse(false),
          "the child's own children are in its process group and must be stopped too");
      assertTrue(Files.readString(dir.resolve("iqa.log")).contains("revoked"), Files.readString(dir.resolve("iqa.log")));
      assertTrue(granted.valid());
    }
  }

  @Test
  void withYieldAWaiterOfEqualPriorityStopsTheChildAndIsGrantedOnceItExitedAndTheReleaseSaysYielded()
      throws Exception {
    Path out = Files.createDirectories(dir.resolve("run-yield"));
    Process iqa = iqa("gpu", "run", "--gpu", "0", "--yield", "--ttl-s", "30", "--grace-s", "5", "--",
        child().toString(), out.toString());
    await(out.resolve("ready"));
    assertTrue(gpuLeases(0).get(0).path("yield").asBoolean(), broker.status().toString());
    AtomicBoolean childGoneAtGrant = new AtomicBoolean();
    long t0 = System.nanoTime();
    try (Lease granted = broker.acquireAsync(LeaseRequest.of("llm-server").withGpu(0).withWait(30))
        .whenComplete((l, e) -> childGoneAtGrant.set(Files.exists(out.resolve("exited"))))
        .get(30, TimeUnit.SECONDS)) {
      long waitedMs = (System.nanoTime() - t0) / 1_000_000;
      assertTrue(Files.exists(out.resolve("got-term")), "the child never got SIGTERM");
      assertTrue(childGoneAtGrant.get(), "the waiter was granted before the child had exited");
      assertTrue(waitedMs >= 400 && waitedMs < 10_000, "granted after " + waitedMs + " ms");
      assertTrue(iqa.waitFor(30, TimeUnit.SECONDS));
      String log = Files.readString(dir.resolve("iqa.log"));
      assertEquals(143, iqa.exitValue(), log);
      assertTrue(log.contains("stopped to yield gpu 0"), log);
      JsonNode released = java.util.stream.StreamSupport.stream(broker.events().path("events").spliterator(), false)
          .filter(e -> e.path("type").asText().equals("released")).findFirst().orElseThrow();
      assertEquals("yielded", released.path("reason").asText(), released.toString());
      assertTrue(granted.valid());
    }
  }

  @Test
  void whenIqaItselfIsStoppedTheChildStopsAndTheLeaseIsReleased() throws Exception {
    Path out = Files.createDirectories(dir.resolve("run3"));
    Process iqa = iqa("gpu", "run", "--ttl-s", "30", "--grace-s", "5", "--", child().toString(), out.toString());
    await(out.resolve("ready"));
    assertEquals(1, gpuLeases(0).size());
    iqa.destroy(); // SIGTERM, as a service manager stops it
    assertTrue(iqa.waitFor(30, TimeUnit.SECONDS));
    assertTrue(Files.exists(out.resolve("exited")), "the child must be stopped with iqa");
    assertEquals(0, gpuLeases(0).size(), "the lease must be released once the child is gone");
  }

  private Path script(String name, String body) throws Exception {
    Path script = dir.resolve(name);
    Files.writeString(script, "#!/bin/bash\n" + body);
    Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwxr-xr-x"));
    return script;
  }

  /**
   * The finding that started this rule: behind a holder that releases after 25 s, a waited grant
   * with a 30 s ttl was killed by its own deadline 4 s after its child started (the deadline was
   * counted from the request's send time). Its child now runs to its end, past the first renew.
   */
  @Test
  void aGrantThatWaitedLongerThanTwoThirdsOfItsTtlRunsItsChildToItsEnd() throws Exception {
    Path out = Files.createDirectories(dir.resolve("waited"));
    Path job = script("job.sh", "echo started > \"$1/started\"\nsleep 12\necho done > \"$1/done\"\n");
    Lease holder = broker.acquire(LeaseRequest.of("llm").withGpu(0).withTtl(60));
    try (Lease other = broker.acquire(LeaseRequest.of("other").withGpu(1).withTtl(60))) {
      Process iqa = iqa("gpu", "run", "--owner", "batch", "--wait-s", "60", "--ttl-s", "30", "--", job.toString(),
          out.toString());
      Thread.sleep(25_000);
      assertFalse(Files.exists(out.resolve("started")), "the job ran before the GPU was free");
      holder.close();
      await(out.resolve("started"));
      assertTrue(iqa.waitFor(40, TimeUnit.SECONDS), "iqa did not finish");
      String log = Files.readString(dir.resolve("iqa.log"));
      assertEquals(0, iqa.exitValue(), "the waited job was stopped: " + log);
      assertTrue(Files.exists(out.resolve("done")), "the job did not run to its end: " + log);
      assertFalse(log.contains("own deadline"), log);
    }
  }

  @Test
  void aCommandThatLeavesAServerInTheBackgroundHoldsTheLeaseUntilTheServerHasExited() throws Exception {
    Path out = Files.createDirectories(dir.resolve("background"));
    Path server = script("server.sh", "sleep 3\necho exited > \"$1/server-exited\"\n");
    Process iqa = iqa("gpu", "run", "--gpu", "0", "--ttl-s", "30", "--", "sh", "-c",
        server + " " + out + " & echo started > " + out + "/started; exit 0");
    await(out.resolve("started"));
    AtomicBoolean serverGoneAtGrant = new AtomicBoolean();
    CompletableFuture<Lease> waiter = broker.acquireAsync(LeaseRequest.of("llm-server").withGpu(0).withWait(30))
        .whenComplete((l, e) -> serverGoneAtGrant.set(Files.exists(out.resolve("server-exited"))));
    Thread.sleep(1000);
    assertEquals(1, gpuLeases(0).size(), "sh exited at once, yet the server it left running still uses the GPU: "
        + "the lease must be held");
    try (Lease granted = waiter.get(30, TimeUnit.SECONDS)) {
      assertTrue(serverGoneAtGrant.get(), "the GPU was granted while the background server still ran");
      assertTrue(iqa.waitFor(30, TimeUnit.SECONDS));
      String log = Files.readString(dir.resolve("iqa.log"));
      assertEquals(0, iqa.exitValue(), log);
      assertTrue(log.contains("holding the lease until they exit"), log);
      assertTrue(granted.valid());
    }
  }

  @Test
  void aChildThatLeftTheProcessGroupWithSetsidIsStoppedOnARevocationBeforeTheGpuIsHandedOn() throws Exception {
    Path out = Files.createDirectories(dir.resolve("setsid"));
    Path server = script("escapee.sh", """
        out="$1"
        trap 'sleep 0.5; echo exited > "$out/escapee-exited"; exit 143' TERM
        echo $$ > "$out/escapee"
        while true; do sleep 0.1; done
        """);
    Path cmd = script("parent.sh", "setsid " + server + " \"$1\" &\necho ready > \"$1/ready\"\nwait\n");
    Process iqa = iqa("gpu", "run", "--gpu", "0", "--ttl-s", "30", "--grace-s", "5", "--", cmd.toString(),
        out.toString());
    await(out.resolve("ready"));
    await(out.resolve("escapee"));
    long escapee = Long.parseLong(Files.readString(out.resolve("escapee")).trim());
    long leaseId = gpuLeases(0).get(0).path("lease_id").asLong();
    AtomicBoolean escapeeGoneAtGrant = new AtomicBoolean();
    CompletableFuture<Lease> waiter = broker.acquireAsync(LeaseRequest.of("llm-server").withGpu(0).withWait(30))
        .whenComplete((l, e) -> escapeeGoneAtGrant.set(!Procs.running(escapee)));
    Thread.sleep(300);
    broker.forceRelease(leaseId, null, null, "the LLM needs the GPU", false);
    try (Lease granted = waiter.get(30, TimeUnit.SECONDS)) {
      assertTrue(Files.exists(out.resolve("escapee-exited")), "the setsid child never got SIGTERM");
      assertTrue(escapeeGoneAtGrant.get(), "the GPU was handed on while the setsid child still ran");
      assertTrue(iqa.waitFor(30, TimeUnit.SECONDS), Files.readString(dir.resolve("iqa.log")));
      assertTrue(granted.valid());
    }
  }

  @Test
  void aBusyGpuWithinTheWaitRunsNothingAndExits1() throws Exception {
    try (Lease a = broker.acquire(LeaseRequest.of("a").withGpu(0)); Lease b = broker.acquire(LeaseRequest.of("b").withGpu(1))) {
      Path marker = dir.resolve("ran");
      Process iqa = iqa("gpu", "run", "--wait-s", "0.5", "--", "touch", marker.toString());
      assertTrue(iqa.waitFor(30, TimeUnit.SECONDS));
      assertEquals(1, iqa.exitValue(), Files.readString(dir.resolve("iqa.log")));
      assertFalse(Files.exists(marker), "the command must not run without a lease");
      assertTrue(Files.readString(dir.resolve("iqa.log")).contains("gpu_busy"), Files.readString(dir.resolve("iqa.log")));
    }
  }

  /**
   * Round 2: with a missing CMD, iqa took a lease before it exited 127; and it said "lease released"
   * right after the release had failed.
   */
  @Test
  void aMissingCommandTakesNoLeaseAndAFailedReleaseIsSaidAsSuch() throws Exception {
    Process missing = iqa("gpu", "run", "--", dir.resolve("no-such-program").toString());
    assertTrue(missing.waitFor(60, TimeUnit.SECONDS));
    assertEquals(127, missing.exitValue(), Files.readString(dir.resolve("iqa.log")));
    assertTrue(Files.readString(dir.resolve("iqa.log")).contains("command not found"));
    Process notOnPath = iqa("gpu", "run", "--", "no-such-program-anywhere");
    assertTrue(notOnPath.waitFor(60, TimeUnit.SECONDS));
    assertEquals(127, notOnPath.exitValue());
    Process folder = iqa("gpu", "run", "--", dir.toString());
    assertTrue(folder.waitFor(60, TimeUnit.SECONDS));
    assertEquals(126, folder.exitValue(), Files.readString(dir.resolve("iqa.log")));
    assertTrue(broker.status().path("gpus").get(0).path("leases").isEmpty()
        && broker.status().path("gpus").get(1).path("leases").isEmpty());
    JsonNode events = broker.events();
    assertTrue(events == null || !events.toString().contains("\"granted\""), "a lease was taken: " + events);

    // The broker goes away while CMD runs: the release cannot be sent, and iqa says so.
    Path out = Files.createDirectories(dir.resolve("gone"));
    Path script = dir.resolve("wait-then-exit.sh");
    Files.writeString(script, "#!/bin/bash\necho ready > \"$1/ready\"\nwhile [ ! -f \"$1/go\" ]; do sleep 0.05; done\nexit 0\n");
    Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwxr-xr-x"));
    Process run = iqa("gpu", "run", "--ttl-s", "60", "--", script.toString(), out.toString());
    await(out.resolve("ready"));
    vertx.close().await(60, TimeUnit.SECONDS);
    vertx = Vertx.vertx();
    Files.writeString(out.resolve("go"), "");
    assertTrue(run.waitFor(60, TimeUnit.SECONDS));
    String said = Files.readString(dir.resolve("iqa.log"));
    assertEquals(0, run.exitValue(), said);
    assertTrue(said.contains("releasing the lease failed"), said);
    assertFalse(said.contains("; lease released"), said);
  }
}
