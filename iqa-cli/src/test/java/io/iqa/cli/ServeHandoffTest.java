package io.iqa.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.testkit.LeaseHistoryChecker;
import io.iqa.testkit.LeaseHistoryChecker.Grant;
import io.iqa.sidecar.SidecarMain;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The sidecar and a model server behind {@code iqa gpu serve} (both real processes, with a real
 * broker) trade one GPU as requests for each alternate: every hand-off goes through a yield, a
 * drain, a sleep (or a worker's stop) and a release. The broker's history of grants goes through the
 * history checker, and every interval the stand-in LLM server had its weights on the GPU must lie
 * inside one of the front's leases: no overlap, every request answered.
 */
class ServeHandoffTest {

  private static final int HANDOFFS = Integer.getInteger("serve.handoffs", 50);
  private static final Pattern LISTENING = Pattern.compile("listening on http://127\\.0\\.0\\.1:(\\d+)");

  @TempDir
  Path dir;

  @Test
  void fiftyHandOffsBetweenTheSidecarAndAFrontNeverOverlapAndAnswerEveryRequest() throws Exception {
    try (ServeFixture fx = new ServeFixture(dir)) {
      Path trace = dir.resolve("llm-trace.txt");
      ServeFixture.Front llm = fx.front("vllm", "vllm", GpuServeTest.frontFlags("--ttl-s", "20"),
          List.of("--load-ms", "100", "--trace", trace.toString()));
      Process sidecar = sidecar(fx);
      int sidecarPort = awaitListening(sidecar, dir.resolve("sidecar.out"));
      Map<Integer, Integer> answers = new HashMap<>();
      List<Long> handoffMs = new ArrayList<>();
      try {
        for (int i = 0; i < HANDOFFS + 1; i++) {
          long t0 = System.nanoTime();
          HttpResponse<String> r = i % 2 == 0
              ? ServeFixture.HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + sidecarPort
                  + "/infer")).timeout(Duration.ofSeconds(90)).header("Content-Type", "image/png")
                  .POST(HttpRequest.BodyPublishers.ofByteArray(png(i))).build(), HttpResponse.BodyHandlers.ofString())
              : llm.complete("{\"prompt\":\"turn " + i + "\",\"max_tokens\":2}");
          answers.merge(r.statusCode(), 1, Integer::sum);
          assertEquals(200, r.statusCode(), "turn " + i + ": " + r.body() + "\n" + llm.log());
          if (i > 0) {
            handoffMs.add((System.nanoTime() - t0) / 1_000_000);
          }
        }
      } finally {
        sidecar.destroy();
        sidecar.waitFor(60, TimeUnit.SECONDS);
      }
      List<JsonObject> events = fx.events();
      List<Grant> grants = new ArrayList<>();
      Map<Long, Long> grantedAt = new HashMap<>();
      Map<Long, String> owners = new HashMap<>();
      List<long[]> llmLeases = new ArrayList<>();
      for (JsonObject e : events) {
        long t = Instant.parse(e.getString("time")).toEpochMilli();
        long id = e.getLong("lease_id", 0L);
        switch (e.getString("type")) {
          case "granted" -> {
            grantedAt.put(id, t);
            owners.put(id, e.getString("owner"));
          }
          case "released", "expired", "holder_exited", "revoke_confirmed", "revoke_expired" -> {
            Long from = grantedAt.remove(id);
            if (from != null) {
              grants.add(new Grant(id, 0, 0, true, from * 1_000_000, from * 1_000_000, t * 1_000_000, owners.get(id)));
              if ("llm".equals(owners.get(id))) {
                llmLeases.add(new long[] {from, t});
              }
            }
          }
          default -> { }
        }
      }
      long sidecarLeases = grants.stream().filter(g -> g.client().equals("iqa-sidecar")).count();
      assertTrue(sidecarLeases >= HANDOFFS / 2 && llmLeases.size() >= HANDOFFS / 2, "each took the GPU about "
          + HANDOFFS / 2 + " times: sidecar " + sidecarLeases + ", llm " + llmLeases.size());
      assertEquals(List.of(), new LeaseHistoryChecker(Map.of(0, 0)).check(grants), "two programs held gpu 0 at once");
      // The LLM's weights were on the GPU only inside its own leases.
      List<String> lines = Files.readAllLines(trace);
      int checked = 0;
      for (int i = 0; i + 1 < lines.size(); i += 2) {
        long awake = Long.parseLong(lines.get(i).split(" ")[1]);
        long asleep = Long.parseLong(lines.get(i + 1).split(" ")[1]);
        assertTrue(lines.get(i).startsWith("awake") && lines.get(i + 1).startsWith("asleep"), lines.toString());
        boolean inside = llmLeases.stream().anyMatch(l -> l[0] <= awake && asleep <= l[1]);
        assertTrue(inside, "the LLM was awake from " + awake + " to " + asleep + " outside its leases " + llmLeases
            .stream().map(l -> l[0] + "-" + l[1]).toList());
        checked++;
      }
      assertTrue(checked >= HANDOFFS / 2 - 1, "awake intervals checked: " + checked + " of " + lines);
      handoffMs.sort(null);
      System.out.println("serve hand-offs: " + HANDOFFS + ", answers " + answers + ", request after a hand-off p50 "
          + handoffMs.get(handoffMs.size() / 2) + " ms, max " + handoffMs.get(handoffMs.size() - 1) + " ms");
    }
  }

  private Process sidecar(ServeFixture fx) throws IOException {
    Path conf = dir.resolve("sidecar.json");
    Files.writeString(conf, new JsonObject().put("port", 0)
        .put("models", new JsonArray().add(new JsonObject().put("name", "tech_sharpness").put("backend", "builtin")))
        .put("broker", new JsonObject().put("url", "http://127.0.0.1:" + fx.broker.port))
        .put("lease", new JsonObject().put("owner", "iqa-sidecar").put("gpu", 0).put("wait_s", 60).put("ttl_s", 20)
            .put("required", true).put("yield", true))
        .put("worker", new JsonObject().put("warmup", false)).encode());
    return new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Dlogback.statusListenerClass=ch.qos.logback.core.status.NopStatusListener", "-cp",
        System.getProperty("java.class.path"), SidecarMain.class.getName(), "serve", "--conf", conf.toString())
        .redirectErrorStream(true).redirectOutput(dir.resolve("sidecar.out").toFile()).start();
  }

  private static int awaitListening(Process p, Path out) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (System.nanoTime() < deadline && p.isAlive()) {
      Matcher m = LISTENING.matcher(Files.readString(out));
      if (m.find()) {
        return Integer.parseInt(m.group(1));
      }
      Thread.sleep(50);
    }
    throw new IOException("the sidecar did not start:\n" + Files.readString(out));
  }

  /** A 64x64 picture of its own for turn {@code i}: every sidecar turn is a cache miss. */
  private static byte[] png(int i) throws IOException {
    BufferedImage img = new BufferedImage(64, 64, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < 64; y++) {
      for (int x = 0; x < 64; x++) {
        img.setRGB(x, y, ((x * 7 + i * 13) & 0xff) << 16 | ((y * 5 + i) & 0xff) << 8 | ((x ^ y) + i) & 0xff);
      }
    }
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    ImageIO.write(img, "png", b);
    return b.toByteArray();
  }
}
