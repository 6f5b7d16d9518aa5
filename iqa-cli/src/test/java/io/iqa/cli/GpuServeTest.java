package io.iqa.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.client.Lease;
import io.iqa.protocol.wire.LeaseRequest;
import io.vertx.core.json.JsonObject;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code iqa gpu serve} as its own process in front of stand-in model servers (each adapter's
 * endpoints as the real project defines them), with a real broker whose stand-in nvidia-smi shows
 * the servers' GPU memory: a request wakes the server, a waiter's yield request puts it to sleep,
 * its memory falls, and only then is the lease released and the waiter granted.
 */
class GpuServeTest {

  private static final String ASK = "{\"model\":\"m\",\"prompt\":\"hi\",\"max_tokens\":3}";
  private static final Pattern ID = Pattern.compile("cmpl-(\\d+)");

  @TempDir
  Path dir;
  private ServeFixture fx;

  @BeforeEach
  void start() throws Exception {
    fx = new ServeFixture(dir);
  }

  @AfterEach
  void stop() throws Exception {
    fx.close();
  }

  /** The tests' front flags, {@code more} (pairs) replacing or adding to them. */
  static List<String> frontFlags(String... more) {
    java.util.Map<String, String> flags = new java.util.LinkedHashMap<>();
    String[] base = {"--owner", "llm", "--idle-release-s", "0", "--ttl-s", "10", "--wake-timeout-s", "60",
        "--sleep-timeout-s", "5", "--drain-timeout-s", "10", "--grace-s", "2"};
    for (int i = 0; i < base.length; i += 2) {
      flags.put(base[i], base[i + 1]);
    }
    for (int i = 0; i < more.length; i += 2) {
      flags.put(more[i], more[i + 1]);
    }
    List<String> f = new ArrayList<>();
    flags.forEach((k, v) -> f.addAll(List.of(k, v)));
    return f;
  }

  /** A waiter for gpu 0 that notes in {@code aliveAtGrant} whether {@code pid} still ran when it was granted. */
  private CompletableFuture<Lease> waiterNoting(long pid, boolean[] aliveAtGrant) {
    return fx.leases.acquireAsync(LeaseRequest.of("batch").withGpu(0).withWait(30))
        .whenComplete((l, e) -> aliveAtGrant[0] = ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false));
  }

  private static CompletableFuture<HttpResponse<String>> completeAsync(ServeFixture.Front f) {
    return CompletableFuture.supplyAsync(() -> {
      try {
        return f.complete(ASK);
      } catch (Exception e) {
        throw new RuntimeException(e);
      }
    });
  }

  private JsonObject awaitStatus(ServeFixture.Front f, java.util.function.Predicate<JsonObject> until)
      throws Exception {
    JsonObject[] last = {null};
    Awaitility.await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(50)).until(() -> {
      last[0] = f.status();
      return until.test(last[0]);
    });
    return last[0];
  }

  @Test
  void vllmWakesOnARequestSleepsForAWaiterAndWakesAgainWithoutARestart() throws Exception {
    ServeFixture.Front f = fx.front("vllm", "vllm", frontFlags(), List.of("--awake-mb", "8000", "--asleep-mb", "300"));
    HttpResponse<String> first = f.complete(ASK);
    assertEquals(200, first.statusCode(), first.body() + "\n" + f.log());
    long pid = f.serverPid();
    assertEquals("llm", fx.leasesOnGpu0().get(0).path("owner").asText());
    assertEquals(8000, fx.memoryOf(pid));
    Awaitility.await().atMost(Duration.ofSeconds(10)).until(() ->
        fx.leasesOnGpu0().get(0).path("observed_vram_mb").asInt() == 8000);

    // A waiter of equal priority: the front's lease yields; the server sleeps before the release.
    boolean[] asleepAtGrant = {false};
    int[] memoryAtGrant = {-1};
    CompletableFuture<Lease> waiter = fx.leases.acquireAsync(LeaseRequest.of("batch").withGpu(0).withWait(30))
        .whenComplete((l, e) -> {
          try {
            memoryAtGrant[0] = fx.memoryOf(pid);
            asleepAtGrant[0] = ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
          } catch (Exception ignored) {
            // asserted below
          }
        });
    try (Lease batch = waiter.get(30, TimeUnit.SECONDS)) {
      assertEquals(300, memoryAtGrant[0], "the waiter is granted only once the server's memory fell\n" + f.log());
      assertTrue(asleepAtGrant[0], "the server sleeps, it is not killed");
      // The broker granted batch on the front's release; the front hears its release answered just after.
      JsonObject st = awaitStatus(f, s -> "idle".equals(s.getString("state")));
      assertEquals("asleep", st.getJsonObject("worker").getString("state"), st.encode());
      assertEquals(300, st.getJsonObject("worker").getInteger("asleep_vram_mb"), st.encode());
      assertTrue(st.getJsonObject("worker").getBoolean("sleep_verified"), st.encode());
      assertTrue(fx.events().stream().anyMatch(e -> "released".equals(e.getString("type"))
          && "llm".equals(e.getString("owner")) && "yielded".equals(e.getString("reason"))), fx.events().toString());

      // A request while the GPU is someone else's waits for it, then wakes the same process.
      CompletableFuture<HttpResponse<String>> queued = completeAsync(f);
      Thread.sleep(500);
      assertFalse(queued.isDone(), "the request must wait while batch holds the GPU");
      assertEquals(300, fx.memoryOf(pid), "the server stays asleep while batch holds the GPU");
      batch.close();
      HttpResponse<String> woke = queued.get(30, TimeUnit.SECONDS);
      assertEquals(200, woke.statusCode(), woke.body());
      assertEquals(pid, f.serverPid(), "woken, not restarted");
      assertEquals(8000, fx.memoryOf(pid));
    }
  }

  @Test
  void aRevocationPutsTheServerToSleepBeforeItIsConfirmedAndTheNextRequestWakesIt() throws Exception {
    ServeFixture.Front f = fx.front("vllm", "vllm", frontFlags(), List.of());
    assertEquals(200, f.complete(ASK).statusCode(), f.log());
    long pid = f.serverPid();
    long leaseId = fx.leasesOnGpu0().get(0).path("lease_id").asLong();
    int[] memoryAtGrant = {-1};
    CompletableFuture<Lease> waiter = fx.leases.acquireAsync(LeaseRequest.of("ops").withGpu(0).withWait(30)
        .withPriority(io.iqa.protocol.wire.Priority.LOW))
        .whenComplete((l, e) -> {
          try {
            memoryAtGrant[0] = fx.memoryOf(pid);
          } catch (Exception ignored) {
            // asserted below
          }
        });
    Awaitility.await().atMost(Duration.ofSeconds(10)).until(() ->
        !fx.leases.status().path("gpus").get(0).path("waiting").isEmpty());
    fx.leases.forceRelease(leaseId, null, null, "operator needs gpu 0", false);
    try (Lease ops = waiter.get(30, TimeUnit.SECONDS)) {
      assertEquals(300, memoryAtGrant[0], "asleep before the revocation was confirmed\n" + f.log());
      assertTrue(fx.events().stream().anyMatch(e -> "revoke_confirmed".equals(e.getString("type"))
          && e.getLong("lease_id") == leaseId), fx.events().toString());
    }
    HttpResponse<String> again = f.complete(ASK);
    assertEquals(200, again.statusCode(), again.body());
    assertEquals(pid, f.serverPid(), "woken after the revocation, not restarted");
  }

  @Test
  void whereNoGpuMemoryIsObservedTheAdaptersWordIsTakenAndTheStatusSaysSo() throws Exception {
    fx.close();
    fx = new ServeFixture(dir.resolve("unobserved"), false);
    ServeFixture.Front f = fx.front("vllm", "vllm", frontFlags(), List.of());
    assertEquals(200, f.complete(ASK).statusCode(), f.log());
    try (Lease batch = fx.leases.acquire(LeaseRequest.of("batch").withGpu(0).withWait(30))) {
      JsonObject w = awaitStatus(f, s -> "idle".equals(s.getString("state"))).getJsonObject("worker");
      assertEquals("asleep", w.getString("state"), w.encode());
      assertFalse(w.getBoolean("sleep_verified"), w.encode());
      assertTrue(w.getString("sleep_check").startsWith("not verified: the broker observes no GPU memory"),
          w.encode());
    }
  }

  @Test
  void aServerThatSaysItSleepsButKeepsItsMemoryIsStoppedBeforeTheRelease() throws Exception {
    ServeFixture.Front f = fx.front("vllm", "vllm", frontFlags("--sleep-timeout-s", "2"),
        List.of("--ignore-sleep"));
    assertEquals(200, f.complete(ASK).statusCode(), f.log());
    long pid = f.serverPid();
    boolean[] aliveAtGrant = {true};
    CompletableFuture<Lease> waiter = waiterNoting(pid, aliveAtGrant);
    try (Lease batch = waiter.get(30, TimeUnit.SECONDS)) {
      assertFalse(aliveAtGrant[0], "the server kept its GPU memory: it must be gone before the waiter is granted\n"
          + f.log());
      assertTrue(f.log().contains("did not go to sleep"), f.log());
    }
    // The next request starts it again.
    assertEquals(200, f.complete(ASK).statusCode(), f.log());
    assertNotNull(f.serverPid());
    assertTrue(f.serverPid() != pid);
  }

  @ParameterizedTest
  @ValueSource(strings = {"ollama", "llama-server", "comfyui"})
  void eachAdapterUnloadsForAWaiterAndItsServerLoadsAgainOnTheNextRequest(String adapter) throws Exception {
    ServeFixture.Front f = fx.front(adapter, adapter, frontFlags(), List.of("--awake-mb", "6000"));
    String path = adapter.equals("ollama") ? "/api/generate" : adapter.equals("comfyui") ? "/prompt"
        : "/v1/completions";
    HttpResponse<String> first = f.post(path, ASK);
    assertEquals(200, first.statusCode(), first.body() + "\n" + f.log());
    long pid = f.serverPid();
    assertEquals(6000, fx.memoryOf(pid));
    int[] memoryAtGrant = {-1};
    CompletableFuture<Lease> waiter = fx.leases.acquireAsync(LeaseRequest.of("batch").withGpu(0).withWait(30))
        .whenComplete((l, e) -> {
          try {
            memoryAtGrant[0] = fx.memoryOf(pid);
          } catch (Exception ignored) {
            // asserted below
          }
        });
    try (Lease batch = waiter.get(30, TimeUnit.SECONDS)) {
      assertEquals(0, memoryAtGrant[0], adapter + " must have unloaded before the waiter was granted\n" + f.log());
      assertTrue(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "unloaded, not killed");
    }
    HttpResponse<String> again = f.post(path, ASK);
    assertEquals(200, again.statusCode(), again.body());
    assertEquals(pid, f.serverPid());
    assertEquals(6000, fx.memoryOf(pid), "the server loaded again on the request");
  }

  @Test
  void restartStopsAPlainServerForAWaiterAndStartsItOnTheNextRequest() throws Exception {
    ServeFixture.Front f = fx.front("restart", "plain", frontFlags(), List.of());
    assertEquals(200, f.complete(ASK).statusCode(), f.log());
    long pid = f.serverPid();
    boolean[] aliveAtGrant = {true};
    CompletableFuture<Lease> waiter = waiterNoting(pid, aliveAtGrant);
    try (Lease batch = waiter.get(30, TimeUnit.SECONDS)) {
      assertFalse(aliveAtGrant[0], "stopped before the waiter was granted\n" + f.log());
    }
    assertEquals(200, f.complete(ASK).statusCode(), f.log());
    assertTrue(f.serverPid() != pid, "started again");
  }

  @Test
  void aStreamedAnswerArrivesChunkByChunk() throws Exception {
    ServeFixture.Front f = fx.front("vllm", "vllm", frontFlags(), List.of("--chunk-ms", "300"));
    assertEquals(200, f.complete(ASK).statusCode(), f.log());
    HttpResponse<java.io.InputStream> r = ServeFixture.HTTP.send(HttpRequest.newBuilder(
        URI.create(f.url() + "/v1/completions")).header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\":\"hi\",\"max_tokens\":6,\"stream\":true}")).build(),
        HttpResponse.BodyHandlers.ofInputStream());
    assertEquals(200, r.statusCode());
    assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"), r.headers().map()
        .toString());
    List<Long> receivedAt = new ArrayList<>();
    List<Long> sentAt = new ArrayList<>();
    Pattern sent = Pattern.compile("\"sent_at_ms\":(\\d+)");
    try (BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
      for (String line = in.readLine(); line != null; line = in.readLine()) {
        Matcher m = sent.matcher(line);
        if (m.find()) {
          receivedAt.add(System.currentTimeMillis());
          sentAt.add(Long.parseLong(m.group(1)));
        }
      }
    }
    assertEquals(6, receivedAt.size());
    assertTrue(receivedAt.get(0) < sentAt.get(5), "the first chunk arrived at " + receivedAt.get(0)
        + ", before the last was produced at " + sentAt.get(5) + ": streamed, not buffered");
  }

  @Test
  void requestsThatArriveWhileTheServerSleepsOrWakesAreAllAnswered() throws Exception {
    ServeFixture.Front f = fx.front("vllm", "vllm", frontFlags(), List.of("--wake-ms", "1500"));
    assertEquals(200, f.complete(ASK).statusCode(), f.log());
    Lease batch = fx.leases.acquire(LeaseRequest.of("batch").withGpu(0).withWait(30));
    awaitStatus(f, s -> "idle".equals(s.getString("state")));
    List<CompletableFuture<HttpResponse<String>>> asked = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      asked.add(completeAsync(f));
      Thread.sleep(150); // they arrive in this order
      if (i == 2) {
        batch.close(); // the rest arrive while the server wakes (1.5 s)
      }
    }
    List<Integer> ids = new ArrayList<>();
    for (CompletableFuture<HttpResponse<String>> a : asked) {
      HttpResponse<String> r = a.get(60, TimeUnit.SECONDS);
      assertEquals(200, r.statusCode(), r.body() + "\n" + f.log());
      Matcher m = ID.matcher(r.body());
      assertTrue(m.find(), r.body());
      ids.add(Integer.parseInt(m.group(1)));
    }
    // None lost, none answered twice. The front forwards what waited first-in first-out, but the
    // server may see concurrent requests in another order (the proxy's connections are a pool: one
    // freed by an early answer can carry a later request before the others have connected).
    assertEquals(6, new java.util.HashSet<>(ids).size(), "six requests, six answers of their own: " + ids);
  }

  @Test
  void beyondTheQueueLimitA503WithRetryAfter() throws Exception {
    ServeFixture.Front f = fx.front("vllm", "vllm", frontFlags("--queue-limit", "2"), List.of());
    assertEquals(200, f.complete(ASK).statusCode(), f.log());
    try (Lease batch = fx.leases.acquire(LeaseRequest.of("batch").withGpu(0).withWait(30))) {
      awaitStatus(f, s -> "idle".equals(s.getString("state")));
      List<CompletableFuture<HttpResponse<String>>> asked = new ArrayList<>();
      for (int i = 0; i < 2; i++) {
        asked.add(completeAsync(f));
      }
      awaitStatus(f, s -> s.getInteger("queued") == 2);
      HttpResponse<String> third = f.complete(ASK);
      assertEquals(503, third.statusCode(), third.body());
      assertEquals("5", third.headers().firstValue("Retry-After").orElse(null));
      assertEquals("overloaded", new JsonObject(third.body()).getString("error"));
      batch.close();
      for (CompletableFuture<HttpResponse<String>> a : asked) {
        assertEquals(200, a.get(60, TimeUnit.SECONDS).statusCode());
      }
    }
  }
}
