package io.iqa.testkit.serve;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A stand-in model server, its own process, for the front's tests, the demo and the benchmark. It
 * implements the endpoints the {@code iqa gpu serve} adapters use, as the real projects define them
 * (docs/serve.md names the sources): {@code vllm} ({@code POST /sleep?level=N}, {@code POST
 * /wake_up}, {@code GET /is_sleeping}, {@code GET /health}), {@code ollama} ({@code GET /}, {@code
 * GET /api/ps}, {@code POST /api/generate} with {@code keep_alive: 0} to unload), {@code
 * llama-server} in router mode ({@code GET /health}, {@code GET /models}, {@code POST
 * /models/unload}), {@code comfyui} ({@code POST /free}, {@code GET /system_stats}) and {@code
 * plain} (health and completions only). Every flavor answers {@code POST /v1/completions} (and
 * Ollama's {@code /api/generate}), streamed as server-sent events, one chunk every {@code
 * --chunk-ms}, when the body asks {@code "stream": true}; while asleep it answers 503, as a server
 * whose weights are gone cannot answer.
 *
 * <p>Its "GPU memory": while loaded it writes {@code <mem-dir>/<pid>} with {@code "<gpu> <MiB>"}
 * (the gpu is the first of CUDA_VISIBLE_DEVICES), and the residue while asleep; a stand-in
 * nvidia-smi lists these files as the driver lists processes. With {@code --ignore-sleep} it
 * answers the sleep calls as if it slept but keeps its memory (a server that does not let go).
 *
 * <pre>java -cp ... io.iqa.testkit.serve.StandInModelServer --flavor vllm --port 8001 --mem-dir D
 *     [--awake-mb 8000] [--asleep-mb 300] [--load-ms 300] [--wake-ms 100] [--sleep-ms 50]
 *     [--chunk-ms 50] [--ignore-sleep] [--trace FILE]</pre>
 */
public final class StandInModelServer {

  private final String flavor;
  private final Path memFile;
  private final int gpu;
  private final int awakeMb;
  private final int asleepMb;
  private final long loadMs;
  private final long wakeMs;
  private final long sleepMs;
  private final long chunkMs;
  private final boolean ignoreSleep;
  /** Where each load and unload is written with its wall time (ms), for a test's history; or null. */
  private final Path trace;
  private volatile boolean loaded;
  private volatile boolean ready;
  private volatile boolean claimsAsleep;
  private final AtomicInteger served = new AtomicInteger();

  private StandInModelServer(Map<String, String> a) throws IOException {
    flavor = a.getOrDefault("flavor", "vllm");
    memFile = Path.of(a.get("mem-dir")).resolve(Long.toString(ProcessHandle.current().pid()));
    String cvd = System.getenv().getOrDefault("CUDA_VISIBLE_DEVICES", "0");
    gpu = cvd.isBlank() || !cvd.split(",")[0].matches("\\d+") ? 0 : Integer.parseInt(cvd.split(",")[0]);
    awakeMb = Integer.parseInt(a.getOrDefault("awake-mb", "8000"));
    asleepMb = Integer.parseInt(a.getOrDefault("asleep-mb", flavor.equals("vllm") ? "300" : "0"));
    loadMs = Long.parseLong(a.getOrDefault("load-ms", "300"));
    wakeMs = Long.parseLong(a.getOrDefault("wake-ms", "100"));
    sleepMs = Long.parseLong(a.getOrDefault("sleep-ms", "50"));
    chunkMs = Long.parseLong(a.getOrDefault("chunk-ms", "50"));
    ignoreSleep = a.containsKey("ignore-sleep");
    trace = a.containsKey("trace") ? Path.of(a.get("trace")) : null;
  }

  public static void main(String[] args) throws Exception {
    Map<String, String> a = new HashMap<>();
    for (int i = 0; i < args.length; i++) {
      String k = args[i].replaceFirst("^--", "");
      boolean flag = k.equals("ignore-sleep");
      a.put(k, flag ? "true" : args[++i]);
    }
    StandInModelServer s = new StandInModelServer(a);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        Files.deleteIfExists(s.memFile);
      } catch (IOException ignored) {
        // gone with the process anyway: the stand-in nvidia-smi skips dead pids
      }
    }));
    HttpServer http = HttpServer.create(new InetSocketAddress("127.0.0.1", Integer.parseInt(a.get("port"))), 64);
    http.setExecutor(Executors.newCachedThreadPool());
    http.createContext("/", s::handle);
    http.start();
    System.out.println("stand-in " + s.flavor + " listening on " + a.get("port"));
    // Loading the weights at the start, as the real servers do (Ollama and the router load on demand).
    if (s.flavor.equals("vllm") || s.flavor.equals("plain")) {
      Thread.sleep(s.loadMs);
      s.load(true);
    }
    s.ready = true;
  }

  private synchronized void load(boolean yes) throws IOException {
    if (trace != null && yes != loaded) {
      // "awake <ms> <this JVM's start, ms>": a benchmark subtracts the stand-in's own start from a restart.
      Files.writeString(trace, (yes ? "awake " + System.currentTimeMillis() + " "
          + java.lang.management.ManagementFactory.getRuntimeMXBean().getStartTime()
          : "asleep " + System.currentTimeMillis()) + "\n",
          java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
    }
    loaded = yes;
    int mb = yes ? awakeMb : asleepMb;
    if (mb == 0) {
      Files.deleteIfExists(memFile);
    } else {
      Path tmp = memFile.resolveSibling(memFile.getFileName() + ".tmp");
      Files.writeString(tmp, gpu + " " + mb + "\n");
      Files.move(tmp, memFile, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }
  }

  private void handle(HttpExchange x) throws IOException {
    try {
      String body = new String(x.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
      URI uri = x.getRequestURI();
      String path = uri.getPath();
      String method = x.getRequestMethod();
      switch (flavor + " " + method + " " + path) {
        case "vllm GET /health", "plain GET /health", "llama-server GET /health" ->
            send(x, ready ? 200 : 503, ready ? "" : "{\"error\":{\"message\":\"Loading model\",\"code\":503}}");
        case "ollama GET /" -> send(x, 200, "Ollama is running");
        case "vllm POST /sleep" -> {
          sleepAway();
          send(x, 200, "");
        }
        case "vllm POST /wake_up" -> {
          Thread.sleep(wakeMs);
          claimsAsleep = false;
          load(true);
          send(x, 200, "");
        }
        case "vllm GET /is_sleeping" -> send(x, 200, "{\"is_sleeping\":" + !loadedOrIgnoring() + "}");
        case "ollama GET /api/ps" -> send(x, 200, "{\"models\":[" + (loaded ? "{\"name\":\"stand-in:latest\","
            + "\"model\":\"stand-in:latest\",\"size_vram\":" + awakeMb * 1048576L + "}" : "") + "]}");
        case "llama-server GET /models" -> send(x, 200, "{\"object\":\"list\",\"data\":[{\"id\":\"stand-in\","
            + "\"status\":{\"value\":\"" + (loaded ? "loaded" : "unloaded") + "\"}}]}");
        case "llama-server POST /models/unload" -> {
          if (!loaded) {
            send(x, 400, "{\"error\":{\"code\":400,\"message\":\"model is not running\"}}");
          } else {
            sleepAway();
            send(x, 200, "{\"success\":true}");
          }
        }
        case "comfyui POST /free" -> {
          sleepAway();
          send(x, 200, "");
        }
        case "comfyui GET /system_stats" -> send(x, 200, "{\"system\":{},\"devices\":[{\"name\":\"stand-in\","
            + "\"type\":\"cuda\",\"index\":" + gpu + ",\"vram_total\":25769803776,\"torch_vram_total\":"
            + (loaded ? awakeMb * 1048576L : 0) + "}]}");
        default -> {
          if (method.equals("POST") && (path.equals("/v1/completions") || path.equals("/api/generate")
              || path.equals("/prompt"))) {
            complete(x, body);
          } else {
            send(x, 404, "{\"error\":\"no " + method + " " + path + " on the stand-in " + flavor + "\"}");
          }
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      x.close();
    }
  }

  /** @return what /is_sleeping says: awake while loaded, unless it claims to sleep ({@code --ignore-sleep}) */
  private boolean loadedOrIgnoring() {
    return loaded && !claimsAsleep;
  }

  private void sleepAway() throws IOException, InterruptedException {
    Thread.sleep(sleepMs);
    if (ignoreSleep) {
      claimsAsleep = true; // says so, keeps its memory
    } else {
      load(false);
    }
  }

  private static final Pattern KEEP_ALIVE_ZERO = Pattern.compile("\"keep_alive\"\\s*:\\s*\"?0s?\"?");
  private static final Pattern TOKENS = Pattern.compile("\"max_tokens\"\\s*:\\s*(\\d+)");

  private void complete(HttpExchange x, String body) throws IOException, InterruptedException {
    if (flavor.equals("ollama") && KEEP_ALIVE_ZERO.matcher(body).find()) {
      sleepAway();
      send(x, 200, "{\"model\":\"stand-in:latest\",\"response\":\"\",\"done\":true,\"done_reason\":\"unload\"}");
      return;
    }
    if (!loaded) {
      if (flavor.equals("vllm") || flavor.equals("plain")) {
        send(x, 503, "{\"error\":\"the stand-in " + flavor + " is asleep: its weights are not on the GPU\"}");
        return;
      }
      Thread.sleep(loadMs); // Ollama, the router and ComfyUI load on demand
      load(true);
    }
    int n = served.incrementAndGet();
    Matcher m = TOKENS.matcher(body);
    int chunks = m.find() ? Integer.parseInt(m.group(1)) : 3;
    if (body.contains("\"stream\": true") || body.contains("\"stream\":true")) {
      x.getResponseHeaders().set("Content-Type", "text/event-stream");
      x.sendResponseHeaders(200, 0);
      OutputStream out = x.getResponseBody();
      for (int i = 0; i < chunks; i++) {
        out.write(("data: {\"id\":\"cmpl-" + n + "\",\"choices\":[{\"index\":0,\"text\":\"t" + i + " \"}],"
            + "\"sent_at_ms\":" + System.currentTimeMillis() + "}\n\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
        Thread.sleep(chunkMs);
      }
      out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
      out.flush();
      return;
    }
    send(x, 200, "{\"id\":\"cmpl-" + n + "\",\"object\":\"text_completion\",\"choices\":[{\"index\":0,"
        + "\"text\":\"a stand-in answer\"}]}");
  }

  private static void send(HttpExchange x, int status, String body) throws IOException {
    byte[] b = body.getBytes(StandardCharsets.UTF_8);
    x.getResponseHeaders().set("Content-Type", body.startsWith("{") ? "application/json" : "text/plain");
    x.sendResponseHeaders(status, b.length == 0 ? -1 : b.length);
    if (b.length > 0) {
      x.getResponseBody().write(b);
    }
  }
}
