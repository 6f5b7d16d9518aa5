package io.iqa.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.broker.BrokerOptions;
import io.iqa.broker.BrokerVerticle;
import io.iqa.sidecar.SidecarMain;
import io.iqa.sidecar.samples.SampleImages;
import io.iqa.sidecar.service.SidecarOptions;
import io.iqa.sidecar.service.SidecarVerticle;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
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
  private final List<Path> images = new ArrayList<>();

  @BeforeEach
  void start() throws Exception {
    vertx = Vertx.vertx();
    BrokerVerticle broker = new BrokerVerticle(new BrokerOptions(new JsonObject().put("port", 0)
        .put("gpus", new JsonArray().add(new JsonObject().put("index", 0).put("vram_mb", 0)))).fresh(true));
    vertx.deployVerticle(broker).await(60, TimeUnit.SECONDS);
    SidecarVerticle sidecar = new SidecarVerticle(new SidecarOptions(new JsonObject().put("port", 0)
        .put("broker", new JsonObject().put("url", "http://127.0.0.1:" + broker.actualPort()).put("owner", "sidecar"))
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
    vertx.close().await(60, TimeUnit.SECONDS);
  }

  /** A stand-in docker: checks the arguments it was given, then runs the real score command. */
  private Path standInDocker(String body) throws Exception {
    Path bin = Files.createDirectories(dir.resolve("bin"));
    Path docker = bin.resolve("docker");
    Files.writeString(docker, body);
    Files.setPosixFilePermissions(docker, PosixFilePermissions.fromString("rwxr-xr-x"));
    return bin;
  }

  private Path realScoreDocker() throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    return standInDocker("""
        #!/bin/bash
        # expects: run --rm --gpus all -v DIR:/in:ro IMAGE score /in/FILE...
        echo "$*" >> "$(dirname "$0")/runs"
        [ "$1 $2 $3 $4 $5" = "run --rm --gpus all -v" ] || { echo "bad args: $*" >&2; exit 64; }
        mount="$6"; dir="${mount%%:/in:ro}"
        [ "$mount" = "$dir:/in:ro" ] || { echo "bad mount: $mount" >&2; exit 64; }
        [ "$7" = "test-image:1" ] && [ "$8" = "score" ] || { echo "bad image/command: $7 $8" >&2; exit 64; }
        shift 8
        files=()
        for f in "$@"; do
          case "$f" in /in/*) files+=("$dir/${f#/in/}");; *) echo "not under /in: $f" >&2; exit 64;; esac
        done
        exec "%s" -cp "%s" %s score --models tech_sharpness,tech_noise "${files[@]}"
        """.formatted(java, System.getProperty("java.class.path"), SidecarMain.class.getName()));
  }

  private IqaClient client(Path searchPath, Path cacheDir) {
    ContainerFallback fallback = new ContainerFallback(ContainerFallback.DEFAULT_COMMAND, "test-image:1", 120,
        searchPath == null ? null : searchPath.toString());
    return IqaClient.builder().sidecarUrl(sidecarUrl).cacheDir(cacheDir).fallback(fallback).build();
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

    vertx.undeploy(sidecarDeployment).await(60, TimeUnit.SECONDS);
    Path bin = realScoreDocker();
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
      assertEquals("ok", client.sidecarHealth().path("status").asText());
    }
    assertThrows(IqaException.class, () -> ClientConfig.load(conf, Map.of("IQA_CLIENT_SIDECARURL", "x")));
  }
}
