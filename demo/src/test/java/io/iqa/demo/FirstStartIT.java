package io.iqa.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.testkit.RedisServer;
import io.vertx.core.json.JsonObject;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A broker's first start, as a new user makes it, with the built jar: the shipped conf/broker.json,
 * the plain jar with no arguments, the container's config on its own and as docker compose runs it
 * (on Redis). Each grants at once (a state that does not exist yet is a first start, no --fresh),
 * and after a kill -9 and a restart the lease is still there and renews.
 */
class FirstStartIT {

  private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
  private static final Path JAR = ROOT.resolve("lease-broker/target/lease-broker.jar");
  private static final Pattern LISTENING = Pattern.compile("listening on http://127\\.0\\.0\\.1:(\\d+)");
  private static final HttpClient HTTP = HttpClient.newHttpClient();

  @TempDir
  Path dir;

  private record Broker(Process process, int port) {
    HttpResponse<String> post(String path, JsonObject body) throws Exception {
      return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
          .header("Content-Type", "application/json")
          .POST(HttpRequest.BodyPublishers.ofString(body.encode())).build(), HttpResponse.BodyHandlers.ofString());
    }

    JsonObject get(String path) throws Exception {
      return new JsonObject(HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).build(),
          HttpResponse.BodyHandlers.ofString()).body());
    }

    void kill9() throws InterruptedException {
      process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }
  }

  private Broker start(Map<String, String> env, String... args) throws IOException {
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-jar", JAR.toString()));
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectError(dir.resolve("broker.log").toFile());
    pb.environment().remove("GPU_LEASE_STATE_FILE");
    pb.environment().remove("GPU_LEASE_REDIS_URL");
    pb.environment().put("HOME", dir.resolve("home").toString());
    pb.environment().remove("XDG_STATE_HOME");
    pb.environment().putAll(env);
    Process p = pb.start();
    BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
    for (String line = out.readLine(); line != null; line = out.readLine()) {
      Matcher m = LISTENING.matcher(line);
      if (m.find()) {
        return new Broker(p, Integer.parseInt(m.group(1)));
      }
    }
    throw new IOException("the broker did not start: " + Files.readString(dir.resolve("broker.log")));
  }

  /** Grants at once on its first start; a kill -9 and a restart on the same port keep the lease. */
  private void firstStartGrantsAtOnceAndARestartKeepsTheLease(Map<String, String> env, List<String> args)
      throws Exception {
    List<String> first = new ArrayList<>(args);
    first.addAll(List.of("--host", "127.0.0.1", "--port", "0"));
    Broker b = start(env, first.toArray(new String[0]));
    Broker again = null;
    try {
      JsonObject health = b.get("/health");
      assertEquals("ok", health.getString("status"), "a first start has nothing to recover: " + health + "\n"
          + Files.readString(dir.resolve("broker.log")));
      HttpResponse<String> granted = b.post("/v1/gpu/lease", new JsonObject().put("owner", "newcomer").put("ttl_s", 60));
      assertEquals(200, granted.statusCode(), "a first start must grant at once: " + granted.body());
      String token = new JsonObject(granted.body()).getString("token");
      b.kill9();
      List<String> second = new ArrayList<>(args);
      second.addAll(List.of("--host", "127.0.0.1", "--port", Integer.toString(b.port())));
      again = start(env, second.toArray(new String[0]));
      assertEquals("ok", again.get("/health").getString("status"));
      assertEquals(200, again.post("/v1/gpu/renew", new JsonObject().put("token", token)).statusCode(),
          "the lease must survive a kill -9 and a restart");
      assertEquals(409, again.post("/v1/gpu/lease", new JsonObject().put("owner", "other")).statusCode(),
          "the GPU is still the newcomer's");
    } finally {
      b.kill9();
      if (again != null) {
        again.kill9();
      }
    }
  }

  @Test
  void theShippedConfOnANewHost() throws Exception {
    Path conf = Files.createDirectories(dir.resolve("checkout/conf")).resolve("broker.json");
    Files.copy(ROOT.resolve("conf/broker.json"), conf);
    firstStartGrantsAtOnceAndARestartKeepsTheLease(Map.of(), List.of("--conf", conf.toString()));
    assertTrue(Files.isRegularFile(dir.resolve("checkout/run/broker-state.jsonl")), "state where the conf says");
  }

  @Test
  void thePlainJarKeepsItsStateWhereTheUsersStateLives() throws Exception {
    Path xdg = dir.resolve("xdg-state");
    firstStartGrantsAtOnceAndARestartKeepsTheLease(Map.of("XDG_STATE_HOME", xdg.toString()), List.of());
    assertTrue(Files.isRegularFile(xdg.resolve("iqa/broker-state.jsonl")), "$XDG_STATE_HOME/iqa/broker-state.jsonl");
  }

  @Test
  void thePlainJarWithoutXdgStateHomeUsesHomeLocalState() throws Exception {
    firstStartGrantsAtOnceAndARestartKeepsTheLease(Map.of(), List.of());
    assertTrue(Files.isRegularFile(dir.resolve("home/.local/state/iqa/broker-state.jsonl")));
  }

  @Test
  void theContainersConfigOnItsOwnWithItsDataVolume() throws Exception {
    Path data = Files.createDirectories(dir.resolve("data"));
    firstStartGrantsAtOnceAndARestartKeepsTheLease(Map.of("GPU_LEASE_STATE_FILE",
        data.resolve("broker-state.jsonl").toString()), List.of("--conf", ROOT.resolve("docker/conf/broker.json").toString()));
  }

  @Test
  void theContainersConfigAsDockerComposeRunsItOnRedis() throws Exception {
    try (RedisServer redis = new RedisServer()) {
      firstStartGrantsAtOnceAndARestartKeepsTheLease(Map.of("GPU_LEASE_REDIS_URL", redis.url()),
          List.of("--conf", ROOT.resolve("docker/conf/broker.json").toString()));
    }
  }
}
