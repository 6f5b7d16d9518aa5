package io.iqa.client;

import io.iqa.broker.LocalBroker;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.protocol.Procs;
import com.fasterxml.jackson.databind.JsonNode;
import io.iqa.protocol.wire.LeaseRequest;
import io.iqa.sidecar.SidecarMain;
import io.iqa.sidecar.samples.SampleImages;
import io.iqa.sidecar.service.SidecarOptions;
import io.iqa.sidecar.service.SidecarVerticle;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The client end to end: a real broker, a real sidecar, and the container fallback's real process path. */
class IqaClientTest {

  @TempDir
  Path dir;
  private Vertx vertx;
  private String sidecarUrl;
  private String sidecarDeployment;
  private String brokerUrl;
  /** The other programs on this host: they hold the GPUs the fallback must not take. */
  private LeaseClient others;
  private final List<Path> images = new ArrayList<>();

  @BeforeEach
  void start() throws Exception {
    vertx = Vertx.vertx();
    brokerUrl = LocalBroker.start(vertx, 2);
    others = new LeaseClient(brokerUrl);
    SidecarVerticle sidecar = new SidecarVerticle(SidecarOptions.read(new JsonObject().put("port", 0)
        .put("broker", new JsonObject().put("url", brokerUrl))
        .put("lease", new JsonObject().put("owner", "sidecar").put("gpu", 0))
        .put("models", new JsonArray().add(new JsonObject().put("name", "tech_sharpness").put("backend", "builtin"))
            .add(new JsonObject().put("name", "tech_noise").put("backend", "builtin")))), dir);
    sidecarDeployment = vertx.deployVerticle(sidecar).await(120, TimeUnit.SECONDS);
    sidecarUrl = "http://127.0.0.1:" + sidecar.actualPort();
    Path photos = Files.createDirectories(dir.resolve("photos"));
    for (int i = 0; i < 3; i++) {
      Path p = photos.resolve("img" + i + ".jpg");
      int shift = i * 20;
      ImageIO.write(SampleImages.perChannel(SampleImages.scene(160), v -> v + shift), "jpeg", p.toFile());
      images.add(p);
    }
  }

  @AfterEach
  void stop() throws Exception {
    others.close();
    vertx.close().await(60, TimeUnit.SECONDS);
  }

  /** A stand-in docker whose container is {@code body}: it checks the arguments it was given, then runs score. */
  private Path standInDocker(String body) throws Exception {
    return io.iqa.testkit.StandInDocker.write(dir.resolve("bin"), body);
  }

  /**
   * Stops the sidecar (so every image goes to the fallback) and makes a stand-in docker. Its
   * container expects {@code [--gpus device=N -e GPU_LEASE_ID=ID] -v DIR:/in:ro IMAGE score /in/FILE...}
   * (what follows {@code run --rm --cidfile FILE}): the GPU image with {@code --gpus}, the CPU image
   * without. Records its arguments and, while it runs, the broker's status; then runs the real score
   * command on the files.
   */
  private Path sidecarDownRealScoreDocker() throws Exception {
    vertx.undeploy(sidecarDeployment).await(60, TimeUnit.SECONDS);
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    return standInDocker("""
        #!/bin/bash
        here="$(dirname "$0")"
        echo "$*" >> "$here/runs"
        curl -s "%s/v1/gpu/status" > "$here/status-during-run.json"
        image_wanted=test-image:cpu
        if [ "$1" = "--gpus" ]; then
          case "$2" in device=[0-9]*) ;; *) echo "bad --gpus value: $2" >&2; exit 64;; esac
          image_wanted=test-image:gpu
          shift 2
          case "$1 $2" in "-e GPU_LEASE_ID="[0-9]*) shift 2;; *) echo "no GPU_LEASE_ID: $*" >&2; exit 64;; esac
        fi
        [ "$1" = "-v" ] || { echo "bad args: $*" >&2; exit 64; }
        mount="$2"; dir="${mount%%:/in:ro}"
        [ "$mount" = "$dir:/in:ro" ] || { echo "bad mount: $mount" >&2; exit 64; }
        [ "$3" = "$image_wanted" ] && [ "$4" = "score" ] || { echo "bad image/command: $3 $4" >&2; exit 64; }
        shift 4
        files=()
        for f in "$@"; do
          case "$f" in /in/*) files+=("$dir/${f#/in/}");; *) echo "not under /in: $f" >&2; exit 64;; esac
        done
        exec "%s" -cp "%s" %s score --models tech_sharpness,tech_noise "${files[@]}"
        """.formatted(brokerUrl, java, System.getProperty("java.class.path"), SidecarMain.class.getName()));
  }

  private ContainerFallback.Settings fallback(Path searchPath, double leaseWaitS, String onNoLease) {
    return fallback(searchPath, leaseWaitS, onNoLease, 120, 10);
  }

  private ContainerFallback.Settings fallback(Path searchPath, double leaseWaitS, String onNoLease, long timeoutS,
      double stopGraceS) {
    ContainerFallback.Settings d = ContainerFallback.Settings.defaults();
    return new ContainerFallback.Settings(true, d.command(), d.gpuArgs(), "test-image:gpu", "test-image:cpu", timeoutS,
        leaseWaitS, 30, null, io.iqa.protocol.wire.WireNames.find(ContainerFallback.OnNoLease.class, onNoLease), "iqa-test-client",
        searchPath == null ? null : searchPath.toString(), stopGraceS);
  }

  private IqaClient client(Path searchPath, Path cacheDir) {
    return IqaClient.builder().sidecarUrl(sidecarUrl).cacheDir(cacheDir).brokerUrl(brokerUrl, null)
        .fallback(fallback(searchPath, 5, "cpu")).build();
  }

  @Test
  void scoresViaTheSidecarThenFromTheCacheThenViaTheFallbackWithTheSameScores() throws Exception {
    Path cacheDir = dir.resolve("cache");
    Map<Path, IqaClient.Outcome> viaSidecar;
    try (IqaClient client = client(null, cacheDir)) {
      viaSidecar = client.scoreAll(images);
      for (IqaClient.Outcome o : viaSidecar.values()) {
        assertEquals("sidecar", o.result().servedBy(), String.valueOf(o));
        assertEquals(2, o.result().scores().size());
      }
      for (Path p : images) {
        assertEquals("cache", client.score(p).servedBy(), "the second time must not reach the sidecar");
      }
    }
    // A new client (a rerun of the job) reads the persisted cache: still no request.
    try (IqaClient rerun = client(null, cacheDir)) {
      assertEquals("cache", rerun.score(images.get(1)).servedBy());
    }

    Path bin = sidecarDownRealScoreDocker();
    try (IqaClient fresh = client(bin, null)) {
      Map<Path, IqaClient.Outcome> viaContainer = fresh.scoreAll(images);
      for (Path p : images) {
        ScoreResult c = viaContainer.get(p).result();
        assertEquals("container", c.servedBy(), String.valueOf(viaContainer.get(p)));
        ScoreResult s = viaSidecar.get(p).result();
        assertEquals(s.sha256(), c.sha256());
        s.scores().forEach((k, v) -> assertEquals(v, c.scores().get(k), 1e-4, k + " differs between sidecar and container"));
      }
      List<String> runs = Files.readAllLines(bin.resolve("runs"));
      assertEquals(1, runs.size(), "all three images must go through one container run: " + runs);
      assertTrue(runs.get(0).contains("/in/img0.jpg /in/img1.jpg /in/img2.jpg"), runs.get(0));
    }
  }

  /** Round 2: a client cache on a full disk turned a good score into a failure that went to the fallback. */
  @Test
  void aCacheFileThatCannotBeWrittenCostsNoScore() throws Exception {
    Path cacheDir = Files.createDirectories(dir.resolve("full-cache"));
    try (IqaClient client = IqaClient.builder().sidecarUrl(sidecarUrl).cacheDir(cacheDir).fallback(null).build()) {
      // Every write to it now fails with ENOSPC, as on a full disk.
      Files.createSymbolicLink(cacheDir.resolve("iqa-scores.jsonl"), Path.of("/dev/full"));
      Map<Path, IqaClient.Outcome> all = client.scoreAll(images);
      for (IqaClient.Outcome o : all.values()) {
        assertTrue(o.result() != null, "a good score was lost to the cache: " + o);
        assertEquals("sidecar", o.result().servedBy());
      }
      assertEquals("cache", client.score(images.get(0)).servedBy(), "still cached in memory");
    }
  }

  @Test
  void theFallbackRunsHoldingALeaseForTheGpuItPassesToDocker() throws Exception {
    Path bin = sidecarDownRealScoreDocker();
    try (Lease llm = others.acquire(LeaseRequest.of("llm-server").withGpu(0).withTtl(60));
        IqaClient client = client(bin, null)) {
      ScoreResult r = client.score(images.get(0));
      assertEquals("container", r.servedBy());
      String run = Files.readAllLines(bin.resolve("runs")).get(0);
      JsonObject during = new JsonObject(Files.readString(bin.resolve("status-during-run.json")));
      JsonArray gpu1 = during.getJsonArray("gpus").getJsonObject(1).getJsonArray("leases");
      assertTrue(run.startsWith("--gpus device=1 -e GPU_LEASE_ID=" + gpu1.getJsonObject(0).getLong("lease_id")
          + " -v "), "gpu 0 is the LLM's: the container must get exactly the leased gpu 1, never all, and the "
          + "lease's id for the broker's observer: " + run);
      assertEquals(1, gpu1.size(), "while the container ran, gpu 1 must be leased: " + during);
      assertEquals("iqa-test-client", gpu1.getJsonObject(0).getString("owner"));
      assertEquals(ProcessHandle.current().pid(), gpu1.getJsonObject(0).getLong("pid"),
          "the lease names the client's pid");
      assertEquals(0, others.status().path("gpus").get(1).path("leases").size(),
          "the fallback's lease must be released after the run");
      assertTrue(llm.valid());
    }
  }

  @Test
  void withoutALeaseInTimeTheFallbackRunsTheCpuImageWithoutGpusOrFailsAsConfigured() throws Exception {
    Path bin = sidecarDownRealScoreDocker();
    try (Lease a = others.acquire(LeaseRequest.of("llm-a").withGpu(0).withTtl(60));
        Lease b = others.acquire(LeaseRequest.of("llm-b").withGpu(1).withTtl(60))) {
      try (IqaClient cpu = IqaClient.builder().sidecarUrl(sidecarUrl).brokerUrl(brokerUrl, null)
          .fallback(fallback(bin, 0.5, "cpu")).build()) {
        assertEquals("container", cpu.score(images.get(1)).servedBy());
        String run = Files.readAllLines(bin.resolve("runs")).get(0);
        assertTrue(run.startsWith("-v ") && run.contains(" test-image:cpu score "),
            "without a lease: the CPU image, no --gpus: " + run);
      }
      try (IqaClient strict = IqaClient.builder().sidecarUrl(sidecarUrl).brokerUrl(brokerUrl, null)
          .fallback(fallback(bin, 0.5, "fail")).build()) {
        IqaException e = assertThrows(IqaException.class, () -> strict.score(images.get(2)));
        assertTrue(e.getMessage().contains("no GPU lease") && e.getMessage().contains("on_no_lease"), e.getMessage());
      }
      assertTrue(a.valid() && b.valid());
    }
  }

  /**
   * A container that ignores SIGTERM, as a process the container engine owns (outside the client's
   * process group): it writes its pid, then runs until killed.
   */
  private Path stubbornContainerDocker() throws Exception {
    vertx.undeploy(sidecarDeployment).await(60, TimeUnit.SECONDS);
    return standInDocker("""
        #!/bin/bash
        trap '' TERM
        echo $$ > "$(dirname "$0")/container.pid"
        while true; do sleep 0.1; done
        """);
  }

  /** Waits for the container's pid, then records when its process has gone (nanoTime). */
  private static CompletableFuture<Long> whenGone(Path pidFile) {
    return CompletableFuture.supplyAsync(() -> {
      org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(30)).until(() -> Files.exists(pidFile)
          && !Files.readString(pidFile).isBlank());
      long pid;
      try {
        pid = Long.parseLong(Files.readString(pidFile).trim());
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
      org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(60))
          .pollInterval(java.time.Duration.ofMillis(5)).until(() -> !Procs.running(pid));
      return System.nanoTime();
    });
  }


  /** @return when (nanoTime) the broker first shows no lease on {@code gpu} */
  private static CompletableFuture<Long> whenFree(LeaseClient broker, int gpu) {
    return CompletableFuture.supplyAsync(() -> {
      org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(30))
          .pollInterval(java.time.Duration.ofMillis(5))
          .until(() -> broker.status().path("gpus").get(gpu).path("leases").size() == 1);
      org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(60))
          .pollInterval(java.time.Duration.ofMillis(5))
          .until(() -> broker.status().path("gpus").get(gpu).path("leases").size() == 0);
      return System.nanoTime();
    });
  }

  /**
   * The container belongs to the engine, not to the client: stopping the docker client's process
   * group does not reach it. After a timeout the client stops the container itself (docker kill by
   * the id in the run's cidfile) and releases the lease only once it has gone.
   */
  @Test
  void afterAFallbackTimeoutTheLeaseIsReleasedOnlyOnceTheContainerHasExited() throws Exception {
    leaseOutlivesTheStubbornContainer(2, "released", (client, bin) -> {
      IqaException timedOut = assertThrows(IqaException.class, () -> client.score(images.get(0)));
      assertTrue(timedOut.getMessage().contains("timed out"), timedOut.getMessage());
    });
    Path log = dir.resolve("bin").resolve("stand-in-docker.log");
    assertTrue(Files.readString(log).contains("kill --signal KILL"),
        "the container must be stopped by its id: " + Files.readString(log));
  }

  @Test
  void afterARevocationTheLeaseIsReleasedOnlyOnceTheContainerHasExited() throws Exception {
    java.util.concurrent.atomic.AtomicLong revoked = new java.util.concurrent.atomic.AtomicLong();
    leaseOutlivesTheStubbornContainer(120, "confirmed as revoked", (client, bin) -> {
      CompletableFuture<ScoreResult> scoring = CompletableFuture.supplyAsync(() -> client.score(images.get(0)));
      org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(30))
          .until(() -> Files.exists(bin.resolve("container.pid")));
      long leaseId = others.status().path("gpus").get(1).path("leases").get(0).path("lease_id").asLong();
      revoked.set(leaseId);
      others.forceRelease(leaseId, null, null, "the LLM needs both GPUs", false);
      java.util.concurrent.ExecutionException stopped = assertThrows(java.util.concurrent.ExecutionException.class,
          () -> scoring.get(60, TimeUnit.SECONDS));
      assertTrue(stopped.getCause().getMessage().contains("lease was lost"), stopped.getCause().getMessage());
    });
    JsonNode confirmed = java.util.stream.StreamSupport.stream(others.events().path("events").spliterator(), false)
        .filter(e -> e.path("lease_id").asLong() == revoked.get() && e.path("type").asText().equals("revoke_confirmed"))
        .findFirst().orElse(null);
    assertTrue(confirmed != null, "the client must confirm the revocation once the container is gone: "
        + others.events());
  }

  /** What a test does to a fallback run whose container ignores SIGTERM. */
  private interface StubbornRun {
    void run(IqaClient client, Path bin) throws Exception;
  }

  /**
   * With gpu 0 held by another program, {@code scenario} runs a fallback (timeout {@code timeoutS})
   * on gpu 1 whose container ignores SIGTERM, and ends it: the fallback's lease must be {@code
   * ended} only once the container has exited, and the other program keeps its own.
   */
  private void leaseOutlivesTheStubbornContainer(int timeoutS, String ended, StubbornRun scenario) throws Exception {
    Path bin = stubbornContainerDocker();
    try (Lease llm = others.acquire(LeaseRequest.of("llm-server").withGpu(0).withTtl(60));
        IqaClient client = IqaClient.builder().sidecarUrl(sidecarUrl).brokerUrl(brokerUrl, null)
            .fallback(fallback(bin, 5, "cpu", timeoutS, 1)).build()) {
      CompletableFuture<Long> containerGone = whenGone(bin.resolve("container.pid"));
      CompletableFuture<Long> leaseFree = whenFree(others, 1);
      scenario.run(client, bin);
      long gone = containerGone.get(30, TimeUnit.SECONDS);
      long free = leaseFree.get(30, TimeUnit.SECONDS);
      assertTrue(free >= gone, "the lease was " + ended + " " + (gone - free) / 1_000_000 + " ms before the "
          + "container (which ignores SIGTERM) had exited");
      assertTrue(llm.valid());
    }
  }

  @Test
  void aMissingOrFailingFallbackIsAClearErrorAndNothingIsCached() throws Exception {
    vertx.undeploy(sidecarDeployment).await(60, TimeUnit.SECONDS);
    Path empty = Files.createDirectories(dir.resolve("empty-bin"));
    try (IqaClient client = client(empty, null)) {
      IqaException missing = assertThrows(IqaException.class, () -> client.score(images.get(0)));
      assertTrue(missing.getMessage().contains("'docker' not found on PATH"), missing.getMessage());
      assertEquals(0, client.cachedEntries());
    }
    Path failing = standInDocker("#!/bin/sh\necho 'boom: no GPU runtime' >&2\nexit 3\n");
    try (IqaClient client = client(failing, null)) {
      IqaException failed = assertThrows(IqaException.class, () -> client.score(images.get(0)));
      assertTrue(failed.getMessage().contains("exited 3") && failed.getMessage().contains("boom: no GPU runtime"),
          failed.getMessage());
      assertEquals(0, client.cachedEntries(), "a failed fallback must cache nothing");
    }
    try (IqaClient noFallback = IqaClient.builder().sidecarUrl(sidecarUrl).fallback(null).build()) {
      IqaException e = assertThrows(IqaException.class, () -> noFallback.score(images.get(0)));
      assertTrue(e.getMessage().contains("unreachable"), e.getMessage());
    }
  }

  @Test
  void aBadImageIsTheImagesFaultNotAReasonToFallBack() throws Exception {
    Path text = dir.resolve("notes.jpg");
    Files.writeString(text, "not an image");
    try (IqaClient client = client(dir.resolve("no-bin"), null)) {
      IqaException e = assertThrows(IqaException.class, () -> client.score(text));
      assertEquals(400, e.status());
      assertEquals("bad_image", e.code());
    }
  }

  @Test
  void configFileAndEnvironmentBuildTheClient() throws Exception {
    Path conf = dir.resolve("client.json");
    Files.writeString(conf, "{\"sidecar_url\": \"http://127.0.0.1:1\", \"concurrency\": 2}");
    ClientConfig cfg = ClientConfig.load(conf, Map.of("IQA_CLIENT_SIDECAR_URL", sidecarUrl,
        "IQA_CLIENT_FALLBACK_ENABLED", "false"));
    try (IqaClient client = cfg.clientBuilder().build()) {
      assertEquals("sidecar", client.score(images.get(2)).servedBy());
      assertEquals("ok", client.sidecar().health().path("status").asText());
    }
    assertThrows(io.iqa.protocol.config.ConfigException.class,
        () -> ClientConfig.load(conf, Map.of("IQA_CLIENT_SIDECARURL", "x")));
  }
}
