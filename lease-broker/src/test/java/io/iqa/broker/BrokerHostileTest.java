package io.iqa.broker;

import io.iqa.testkit.Cleanup;
import io.iqa.testkit.BrokerProcess;
import io.iqa.testkit.RawHttp;
import io.iqa.testkit.Promtool;
import io.iqa.testkit.HttpLayerProbe;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.testkit.RawHttp.Answer;
import io.iqa.broker.TestBroker.Reply;
import io.iqa.protocol.Sha256;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The broker against careless and hostile clients, each finding of the probe replayed against a
 * real broker: idle and slow connections, connection floods, odd content types, over-long lines and
 * heads, forged log lines, tokens that lease in another's name, zombie holders, and metrics that
 * Prometheus' own linter must accept.
 */
class BrokerHostileTest {

  @TempDir
  Path dir;
  @AutoClose
  final Cleanup cleanup = new Cleanup();

  private TestBroker broker(JsonObject extra) {
    JsonObject config = new JsonObject()
        .put("gpus", new JsonArray().add(new JsonObject().put("index", 0).put("vram_mb", 0)))
        .put("reaper_interval_ms", 100)
        .put("limits", new JsonObject().put("header_timeout_ms", 1000).put("idle_timeout_ms", 1500)
            .put("body_timeout_ms", 1000).put("max_connections", 50))
        .mergeIn(extra, true);
    return cleanup.add(new TestBroker(config));
  }

  @Test
  void idleSocketsHalfSentHeadsAndDripsAreClosedWithinTheHeaderTimeout() throws Exception {
    TestBroker b = broker(new JsonObject());
    try (RawHttp idle = new RawHttp(b.port); RawHttp half = new RawHttp(b.port); RawHttp drip = new RawHttp(b.port)) {
      half.send("POST /v1/gpu/lease HTTP/1.1\r\nHost: x\r\nContent-Type: app");
      Thread dripper = new Thread(() -> {
        try {
          for (char c : "GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ".toCharArray()) {
            drip.send(String.valueOf(c));
            Thread.sleep(100);
          }
        } catch (Exception closed) {
          // the broker closed it: what this test wants
        }
      });
      dripper.start();
      long idleMs = idle.millisUntilClosed(5000);
      assertTrue(idleMs >= 0 && idleMs < 2500, "an idle socket stayed open " + idleMs + " ms (header_timeout_ms 1000)");
      long halfMs = half.millisUntilClosed(5000);
      assertTrue(halfMs >= 0 && halfMs < 2500, "a half-sent head stayed open (" + halfMs + " ms)");
      long dripMs = drip.millisUntilClosed(5000);
      assertTrue(dripMs >= 0, "a dripping head kept its connection open past the header timeout");
      dripper.join(10_000);
    }
    // A kept-alive connection with nothing in progress goes after idle_timeout_ms.
    try (RawHttp keep = new RawHttp(b.port)) {
      keep.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
      assertEquals(200, keep.read().status());
      long keptMs = keep.millisUntilClosed(6000);
      assertTrue(keptMs >= 1000 && keptMs < 3500, "a kept-alive idle connection closed after " + keptMs
          + " ms; idle_timeout_ms is 1500");
    }
    assertEquals(200, b.get("/health").status());
  }

  @Test
  void aConnectionFloodNeverStopsHealthAndEveryOtherRequestGetsAJson503() throws Exception {
    TestBroker b = broker(new JsonObject());
    List<RawHttp> flood = new ArrayList<>();
    try {
      for (int i = 0; i < 300; i++) {
        flood.add(new RawHttp(b.port));
      }
      try (RawHttp probe = new RawHttp(b.port); RawHttp other = new RawHttp(b.port)) {
        probe.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
        Answer health = probe.read();
        assertEquals(200, health.status(), "health must answer during a connection flood: " + health);
        other.send("GET /v1/gpu/status HTTP/1.1\r\nHost: x\r\n\r\n");
        Answer refused = other.read();
        assertEquals(503, refused.status(), refused.toString());
        assertTrue(refused.head().contains("Retry-After") && refused.body().contains("\"overloaded\""),
            refused.toString());
      }
    } finally {
      for (RawHttp r : flood) {
        r.close();
      }
    }
    await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(100))
        .until(() -> b.get("/v1/gpu/status").status() == 200);
    assertEquals(200, b.get("/v1/gpu/status").status(), "the broker must recover once the flood is gone");
  }

  @Test
  void formAndMultipartBodiesOfAnySizeAreRefusedWith415BeforeOrAfterAuth() throws Exception {
    TestBroker open = broker(new JsonObject());
    String lease = "{\"owner\":\"curl\",\"purpose\":\"" + "p".repeat(200) + "\"}" + " ".repeat(2000);
    // curl -d sends application/x-www-form-urlencoded, and so can any web page without asking: refused.
    try (RawHttp r = new RawHttp(open.port)) {
      r.send("POST /v1/gpu/lease HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
          + "Content-Length: " + lease.length() + "\r\n\r\n" + lease);
      Answer a = r.read();
      assertEquals(415, a.status(), a.toString());
      assertTrue(a.body().contains("\"unsupported_media_type\""), a.toString());
    }
    assertEquals(0, open.get("/v1/gpu/status").json().getJsonArray("gpus").getJsonObject(0).getJsonArray("leases")
        .size(), "a refused body must not lease");
    String multipart = "--xyz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n" + "x".repeat(5000) + "\r\n--xyz--\r\n";
    for (TestBroker b : List.of(open, broker(new JsonObject().put("auth", new JsonObject().put("tokens",
        new JsonArray().add(new JsonObject().put("name", "ops").put("role", "admin")
            .put("token_sha256", Sha256.hex("ops-secret")))))))) {
      for (String auth : List.of("", "Authorization: Bearer ops-secret\r\n")) {
        try (RawHttp r = new RawHttp(b.port)) {
          r.send("POST /v1/gpu/renew HTTP/1.1\r\nHost: x\r\n" + auth
              + "Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: " + multipart.length() + "\r\n\r\n"
              + multipart);
          Answer a = r.read();
          assertEquals(415, a.status(), a.toString());
          assertTrue(a.head().contains("application/json") && a.body().startsWith("{\"error\""), a.toString());
        }
      }
    }
  }

  @Test
  void aBodyThatDoesNotArriveIsRefusedWith408AndOverlongLinesAndHeadsGetJson() throws Exception {
    TestBroker b = broker(new JsonObject());
    try (RawHttp slow = new RawHttp(b.port)) {
      slow.send("POST /v1/gpu/lease HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
          + "{\"owner\":");
      Answer a = slow.read();
      assertEquals(408, a.status(), a.toString());
      assertTrue(a.body().contains("\"request_timeout\""), a.body());
    }
    try (RawHttp longLine = new RawHttp(b.port)) {
      longLine.send("GET /" + "a".repeat(20_000) + " HTTP/1.1\r\nHost: x\r\n\r\n");
      Answer a = longLine.read();
      assertEquals(414, a.status(), a.toString());
      assertTrue(a.head().contains("application/json") && a.body().contains("\"uri_too_long\""), a.toString());
    }
    try (RawHttp bigHead = new RawHttp(b.port)) {
      bigHead.send("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + "b".repeat(40_000) + "\r\n\r\n");
      Answer a = bigHead.read();
      assertEquals(431, a.status(), a.toString());
      assertTrue(a.body().contains("\"headers_too_large\""), a.toString());
    }
    try (RawHttp garbage = new RawHttp(b.port)) {
      garbage.send("\u0001\u0002 nonsense\r\n\r\n");
      Answer a = garbage.read();
      assertTrue(a == null || a.status() == 400 && a.body().contains("\"error\""), String.valueOf(a));
    }
    for (String path : List.of("/health", "/v1/gpu/status", "/v1/gpu/events", "/metrics")) {
      Reply head = b.send(HttpMethod.HEAD, path, null, null);
      assertEquals(200, head.status(), "HEAD " + path + " must work where GET does");
      assertEquals(0, head.body().length(), "HEAD has no body");
    }
    Reply wrong = b.send(HttpMethod.DELETE, "/v1/gpu/lease", null, null);
    assertEquals(405, wrong.status());
    assertEquals("method_not_allowed", wrong.json().getString("error"));
  }

  @Test
  void requestTextIsEscapedInTheLogAndTheLogLinesCarryTheDate() throws Exception {
    try (BrokerProcess b = new BrokerProcess(new JsonObject()
        .put("gpus", new JsonArray().add(new JsonObject().put("index", 0).put("vram_mb", 0))), dir)) {
      String forged = "2026-01-01 00:00:00.000 ERROR [main] forged - the broker was hacked";
      b.post("/v1/gpu/lease", new JsonObject().put("owner", "victim").put("purpose", "a\r\n" + forged));
      b.post("/v1/gpu/force_release", new JsonObject().put("owner", "victim")
          .put("reason", "ops\n" + forged + "\u001b[2J"));
      await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(50))
          .until(() -> b.log().contains("revoked"));
      String log = b.log();
      assertTrue(log.contains("revoked"), log);
      for (String line : log.split("\n")) {
        assertFalse(line.startsWith("2026-01-01 00:00:00.000 ERROR"), "a request forged a log line:\n" + log);
        assertFalse(line.contains("\u001b"), "a terminal escape reached the log: " + line);
        // Not the broker's: the listening line (stdout) and the java launcher's note on the test's JDK_JAVA_OPTIONS.
        if (!line.isBlank() && !line.startsWith("\tat ") && !line.startsWith("lease-broker listening")
            && !line.startsWith("NOTE: Picked up JDK_JAVA_OPTIONS")) {
          assertTrue(line.matches("^\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2}\\.\\d{3} .*"), "a log line without its date: "
              + line);
        }
      }
      assertTrue(log.contains("ops\\u000a2026-01-01"), "the reason must be shown escaped:\n" + log);
    }
  }

  @Test
  void aClientTokenLeasesOnlyInItsOwnNamesAndEventsNameTheCaller() {
    JsonArray tokens = new JsonArray()
        .add(new JsonObject().put("name", "alice").put("token_sha256", Sha256.hex("alice-secret")))
        .add(new JsonObject().put("name", "pipeline").put("token_sha256", Sha256.hex("pipe-secret"))
            .put("owners", new JsonArray().add("iqa-sidecar").add("iqa-client")));
    TestBroker b = broker(new JsonObject().put("auth", new JsonObject().put("tokens", tokens)));
    Reply asBob = b.post("/v1/gpu/lease", new JsonObject().put("owner", "bob"), "alice-secret");
    assertEquals(403, asBob.status(), "a client token must not lease in another owner's name: " + asBob);
    assertEquals("forbidden", asBob.json().getString("error"));
    JsonObject own = b.post("/v1/gpu/lease", new JsonObject().put("owner", "alice").put("gpu", 0), "alice-secret").json();
    assertEquals(200, b.post("/v1/gpu/renew", new JsonObject().put("token", own.getString("token")), "pipe-secret")
        .status(), "the lease token is what renews");
    b.post("/v1/gpu/release", new JsonObject().put("token", own.getString("token")), "alice-secret");
    Reply mapped = b.post("/v1/gpu/lease", new JsonObject().put("owner", "iqa-sidecar"), "pipe-secret");
    assertEquals(200, mapped.status(), "owners listed for the token are allowed: " + mapped);
    assertEquals(403, b.post("/v1/gpu/lease", new JsonObject().put("owner", "pipeline-x"), "pipe-secret").status());
    JsonArray events = b.get("/v1/gpu/events", "alice-secret").json().getJsonArray("events");
    JsonObject renewed = events.stream().map(JsonObject.class::cast).filter(e -> e.getString("type").equals("renewed"))
        .findFirst().orElseThrow();
    assertEquals("pipeline", renewed.getString("by"), "renew events name the caller's token: " + renewed);
    JsonObject released = events.stream().map(JsonObject.class::cast)
        .filter(e -> e.getString("type").equals("released")).findFirst().orElseThrow();
    assertEquals("alice", released.getString("by"));
  }

  @Test
  void aKilledButUnreapedHolderCountsAsExited() throws Exception {
    TestBroker b = broker(new JsonObject());
    // sh starts a sleeper, then becomes a process that never reaps it: killed, it stays a zombie.
    Process parent = new ProcessBuilder("sh", "-c", "sleep 600 & echo $!; exec sleep 600").start();
    try {
      long zombie = Long.parseLong(new java.io.BufferedReader(new java.io.InputStreamReader(parent.getInputStream(),
          StandardCharsets.US_ASCII)).readLine().trim());
      JsonObject lease = b.lease(new JsonObject().put("owner", "ghost").put("gpu", 0).put("pid", zombie)
          .put("ttl_s", 600));
      new ProcessBuilder("kill", "-9", Long.toString(zombie)).start().waitFor(5, TimeUnit.SECONDS);
      Thread.sleep(100);
      String state = Files.readString(Path.of("/proc", Long.toString(zombie), "stat"));
      assertTrue(state.contains(") Z "), "the test needs a zombie: " + state);
      Reply renew = b.renewWhile(lease, 200, 5000);
      assertEquals(410, renew.status(), "a zombie holder kept its lease: " + renew);
      assertEquals("holder_exited", renew.json().getString("reason"));
    } finally {
      parent.destroyForcibly();
    }
  }

  @Test
  void metricsPassPrometheusOwnLinter() throws Exception {
    TestBroker b = broker(new JsonObject());
    JsonObject lease = b.lease(new JsonObject().put("owner", "m").put("gpu", 0));
    b.post("/v1/gpu/lease", new JsonObject().put("owner", "busy").put("gpu", 0));
    b.post("/v1/gpu/force_release", new JsonObject().put("owner", "m"));
    b.post("/v1/gpu/release", new JsonObject().put("token", lease.getString("token")));
    Promtool.assertLintClean(b.get("/metrics").body().toString());
  }

  /** Round 2: gpu_lease_waiting{gpu} left out the requests for any GPU (1 shown, 3 waiting). */
  @Test
  void waitersForAnyGpuAreCountedToo() throws Exception {
    TestBroker b = broker(new JsonObject());
    JsonObject held = b.lease(new JsonObject().put("owner", "holder").put("gpu", 0));
    List<io.vertx.core.Future<Reply>> waiting = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      waiting.add(TestBroker.sendAsync(b.http, HttpMethod.POST, "/v1/gpu/lease", io.vertx.core.buffer.Buffer.buffer(
          new JsonObject().put("owner", "any-" + i).put("wait_s", 20).encode()), null));
    }
    waiting.add(TestBroker.sendAsync(b.http, HttpMethod.POST, "/v1/gpu/lease", io.vertx.core.buffer.Buffer.buffer(
        new JsonObject().put("owner", "zero").put("gpu", 0).put("wait_s", 20).encode()), null));
    await().atMost(Duration.ofSeconds(10)).until(() -> b.get("/v1/gpu/status").json().getJsonArray("gpus")
        .getJsonObject(0).getJsonArray("waiting").size() == 4);
    String metrics = b.get("/metrics").body().toString();
    assertTrue(metrics.contains("gpu_lease_waiting{gpu=\"any\"} 3.0"), metrics);
    assertTrue(metrics.contains("gpu_lease_waiting{gpu=\"0\"} 1.0"), metrics);
    release(b, held);
    for (var w : waiting) {
      JsonObject granted = TestBroker.await(w).json();
      if (granted.containsKey("token")) {
        release(b, granted);
      }
    }
  }

  private static void release(TestBroker b, JsonObject lease) {
    b.post("/v1/gpu/release", new JsonObject().put("token", lease.getString("token")));
  }

  /** Round 2: bad escapes, broken chunking, preflights, unknown methods, page-sendable POSTs, rebinding. */
  @Test
  void everyMalformedForeignOrUnknownRequestGetsAJson4xxAndAQuietLog() throws Exception {
    try (BrokerProcess b = new BrokerProcess(new JsonObject()
        .put("gpus", new JsonArray().add(new JsonObject().put("index", 0).put("vram_mb", 0))), dir)) {
      JsonObject held = new JsonObject(b.post("/v1/gpu/lease", new JsonObject().put("owner", "victim")).body());
      HttpLayerProbe.assertEveryRequestGetsItsJsonAnswer(b.port, "/v1/gpu/force_release", "/v1/gpu/release", b::log);
      JsonObject status = b.get("/v1/gpu/status");
      assertEquals(held.getLong("lease_id"), status.getJsonArray("gpus").getJsonObject(0).getJsonArray("leases")
          .getJsonObject(0).getLong("lease_id"), "none of those requests may touch the lease");
      assertEquals("held", status.getJsonArray("gpus").getJsonObject(0).getJsonArray("leases").getJsonObject(0)
          .getString("state"));
    }
  }

  /** Round 2: numbers beyond 64 bits wrapped (lease 2^64+1 force-released lease 1; pid 2^64+1 became pid 1). */
  @Test
  void numbersBeyondTheirRangeAre400sNamingTheFieldNeverWrapped() throws Exception {
    TestBroker b = broker(new JsonObject());
    JsonObject held = b.lease(new JsonObject().put("owner", "victim"));
    assertEquals(1L, held.getLong("lease_id"));
    String big = "18446744073709551617"; // 2^64 + 1: as a long it is 1
    Map<String, String> bodies = new java.util.LinkedHashMap<>();
    bodies.put("/v1/gpu/force_release lease_id", "{\"lease_id\":" + big + "}");
    bodies.put("/v1/gpu/lease gpu", "{\"owner\":\"x\",\"gpu\":18446744073709551616}");
    bodies.put("/v1/gpu/lease vram_mb", "{\"owner\":\"x\",\"vram_mb\":" + big + "}");
    bodies.put("/v1/gpu/lease pid", "{\"owner\":\"x\",\"pid\":" + big + "}");
    bodies.put("/v1/gpu/lease ttl_s", "{\"owner\":\"x\",\"ttl_s\":1e400}");
    bodies.put("/v1/gpu/force_release older_than_s", "{\"owner\":\"victim\",\"older_than_s\":-" + big + "}");
    for (Map.Entry<String, String> e : bodies.entrySet()) {
      String[] pathAndField = e.getKey().split(" ");
      Reply r = b.send(HttpMethod.POST, pathAndField[0], io.vertx.core.buffer.Buffer.buffer(e.getValue()), null);
      assertEquals(400, r.status(), e.getKey() + " -> " + r.body());
      assertTrue(r.json().getString("message").contains(pathAndField[1]), e.getKey() + " -> " + r.body());
    }
    assertEquals(1, b.get("/v1/gpu/status").json().getJsonArray("gpus").getJsonObject(0).getJsonArray("leases")
        .size(), "lease 1 must still be held");
  }

  /** A socket that asks for the event stream and never reads a byte of it. */
  private static java.net.Socket neverReading(int port, String token) throws Exception {
    java.net.Socket s = new java.net.Socket();
    s.setReceiveBufferSize(4096);
    s.connect(new java.net.InetSocketAddress("127.0.0.1", port), 5000);
    s.getOutputStream().write(("GET /v1/gpu/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
        + (token == null ? "" : "Authorization: Bearer " + token + "\r\n") + "\r\n").getBytes(StandardCharsets.US_ASCII));
    s.getOutputStream().flush();
    return s;
  }

  /**
   * Round 2: 200 event streams whose clients never read were buffered without bound; with a 128 MB
   * heap the broker ran out of memory in about 15 s and then lived on deaf. Now each stream has a
   * budget: the broker (-Xmx128m, as small as the probe's) drops them and serves /health and lease
   * calls throughout.
   */
  @Test
  void twoHundredEventStreamsThatNeverReadAreDroppedAndLeaseCallsAreServedThroughout() throws Exception {
    String opts = System.getenv().getOrDefault("JDK_JAVA_OPTIONS", "") + " -Xmx128m -XX:+ExitOnOutOfMemoryError";
    List<java.net.Socket> readers = new ArrayList<>();
    try (BrokerProcess b = new BrokerProcess(new JsonObject()
        .put("gpus", new JsonArray().add(new JsonObject().put("index", 0).put("vram_mb", 0)))
        .put("limits", new JsonObject().put("max_streams", 300).put("max_streams_per_client", 250)), dir,
        Map.of("JDK_JAVA_OPTIONS", opts))) {
      for (int i = 0; i < 200; i++) {
        readers.add(neverReading(b.port, null));
      }
      String purpose = "p".repeat(250); // every event carries it: 200 streams x 2 events x 0.5 KB per cycle
      long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      long slowest = 0;
      int cycles = 0;
      while (System.nanoTime() < end) {
        long t0 = System.nanoTime();
        var lease = b.post("/v1/gpu/lease", new JsonObject().put("owner", "busy").put("purpose", purpose));
        assertEquals(200, lease.statusCode(), lease.body());
        var released = b.post("/v1/gpu/release", new JsonObject().put("token",
            new JsonObject(lease.body()).getString("token")));
        assertEquals(200, released.statusCode(), released.body());
        if (cycles % 20 == 0) {
          assertEquals("ok", b.get("/health").getString("status"));
        }
        slowest = Math.max(slowest, (System.nanoTime() - t0) / 1_000_000);
        cycles++;
      }
      assertTrue(b.process.isAlive(), "the broker died: " + b.log());
      assertTrue(slowest < 5000, "a lease call took " + slowest + " ms while the streams were held");
      assertTrue(b.log().contains("dropping an event stream"), "no stream was ever dropped: " + cycles + " cycles\n"
          + b.log());
      assertFalse(b.log().contains("java.lang.OutOfMemoryError"), b.log());
    } finally {
      for (java.net.Socket s : readers) {
        s.close();
      }
    }
  }

  /**
   * Round 2: one client holding about 1,100 streams made every other request but /health answer 503.
   * Now a client (a token, or an address without auth) may hold only its share of the streams, and
   * the rest of the connections stay free for everyone else's lease calls and streams.
   */
  @Test
  void fifteenHundredStreamsFromOneClientDoNotLockOutAnother() throws Exception {
    JsonArray tokens = new JsonArray()
        .add(new JsonObject().put("name", "greedy").put("token_sha256", Sha256.hex("greedy-secret")).put("role", "admin"))
        .add(new JsonObject().put("name", "llm").put("token_sha256", Sha256.hex("llm-secret"))
            .put("owners", new JsonArray().add("llm-server")));
    List<java.net.Socket> held = new ArrayList<>();
    try (BrokerProcess b = new BrokerProcess(new JsonObject()
        .put("gpus", new JsonArray().add(new JsonObject().put("index", 0).put("vram_mb", 0)))
        .put("auth", new JsonObject().put("tokens", tokens)), dir)) {
      int refused = 0;
      for (int i = 0; i < 1500; i++) {
        java.net.Socket s = neverReading(b.port, "greedy-secret");
        s.setSoTimeout(10_000);
        byte[] head = s.getInputStream().readNBytes(12);
        String status = new String(head, StandardCharsets.US_ASCII);
        if (status.startsWith("HTTP/1.1 429")) {
          refused++;
          s.close();
        } else {
          assertTrue(status.startsWith("HTTP/1.1 200"), "stream " + i + ": " + status);
          held.add(s);
        }
      }
      assertEquals(StreamLimitsDefaults.PER_CLIENT, held.size(), "one client holds its share of the streams");
      assertEquals(1500 - held.size(), refused);
      // Another client: its lease calls and its own lease watch are served.
      HttpResponse<String> lease = java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest
          .newBuilder(java.net.URI.create("http://127.0.0.1:" + b.port + "/v1/gpu/lease"))
          .header("Content-Type", "application/json").header("Authorization", "Bearer llm-secret")
          .POST(java.net.http.HttpRequest.BodyPublishers.ofString(new JsonObject().put("owner", "llm-server").encode()))
          .build(), HttpResponse.BodyHandlers.ofString());
      assertEquals(200, lease.statusCode(), lease.body());
      try (java.net.Socket watch = new java.net.Socket("127.0.0.1", b.port)) {
        watch.setSoTimeout(10_000);
        watch.getOutputStream().write(("GET /v1/gpu/lease/watch HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
            + "llm-secret\r\nLease-Token: " + new JsonObject(lease.body()).getString("token") + "\r\n\r\n")
            .getBytes(StandardCharsets.US_ASCII));
        String status = new String(watch.getInputStream().readNBytes(12), StandardCharsets.US_ASCII);
        assertEquals("HTTP/1.1 200", status, "the other client's watch must open");
      }
      HttpResponse<String> health = java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest
          .newBuilder(java.net.URI.create("http://127.0.0.1:" + b.port + "/health")).build(),
          HttpResponse.BodyHandlers.ofString());
      assertEquals(200, health.statusCode());
    } finally {
      for (java.net.Socket s : held) {
        s.close();
      }
    }
  }

  private static final class StreamLimitsDefaults {
    static final int PER_CLIENT = io.iqa.broker.BrokerLimits.DEFAULT_MAX_STREAMS_PER_CLIENT;
  }
}
