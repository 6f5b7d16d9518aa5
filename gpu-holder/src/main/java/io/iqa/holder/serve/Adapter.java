package io.iqa.holder.serve;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * How {@code iqa gpu serve} puts one kind of model server to sleep (its GPU memory freed, the
 * process kept) and wakes it, through that server's own endpoints. Each adapter's calls follow the
 * project's source and docs (see docs/serve.md); what it cannot do is said there. Whatever an
 * adapter answers, the front checks the memory itself and stops the process when the server did not
 * let go: safety never depends on the adapter.
 */
public abstract class Adapter {

  /** The adapters by name, for {@code --adapter}. */
  public static final List<String> NAMES = List.of("vllm", "ollama", "llama-server", "comfyui", "restart");

  /** Asked of a server that has no such endpoint (a plain llama-server): the front restarts it instead. */
  static final class Unsupported extends RuntimeException {
    Unsupported(String why) {
      super(why);
    }
  }

  public static Adapter of(String name, int vllmLevel) {
    return switch (name) {
      case "vllm" -> new Vllm(vllmLevel);
      case "ollama" -> new Ollama();
      case "llama-server" -> new LlamaServer();
      case "comfyui" -> new ComfyUi();
      case "restart" -> new Restart();
      default -> throw new IllegalArgumentException("unknown adapter '" + name + "': one of " + NAMES);
    };
  }

  public abstract String name();

  /** @return whether it can free the GPU and keep its process; false: the front stops and restarts it */
  public boolean sleeps() {
    return true;
  }

  /** @return the GPU memory (MiB) a sleeping server of this kind keeps by default (its CUDA context and such) */
  public abstract int residueMb();

  /** @return what a process the front starts needs in its environment for these endpoints to exist */
  public Map<String, String> env() {
    return Map.of();
  }

  /** Asks the server to free the GPU; completes once the server itself says it did. */
  abstract Future<Void> sleep(Vertx vertx, UpstreamHttp http, long timeoutMs);

  /** Wakes a sleeping server; completes when it says it is awake (its health is checked after). */
  Future<Void> wake(Vertx vertx, UpstreamHttp http, long timeoutMs) {
    return Future.succeededFuture();
  }

  /** vLLM's sleep mode: {@code POST /sleep?level=N}, {@code POST /wake_up}, {@code GET /is_sleeping}. */
  static final class Vllm extends Adapter {
    private final int level;

    Vllm(int level) {
      this.level = level;
    }

    @Override
    public String name() {
      return "vllm";
    }

    @Override
    public int residueMb() {
      return 1024; // the CUDA context and, at level 1, nothing of the weights (they go to host memory)
    }

    @Override
    public Map<String, String> env() {
      return Map.of("VLLM_SERVER_DEV_MODE", "1");
    }

    @Override
    Future<Void> sleep(Vertx vertx, UpstreamHttp http, long timeoutMs) {
      return http.post("/sleep?level=" + level, null, timeoutMs).compose(r -> {
        if (r.status() == 404) {
          return Future.failedFuture("vLLM has no /sleep (404): start it with VLLM_SERVER_DEV_MODE=1 and "
              + "--enable-sleep-mode");
        }
        return r.ok() ? isSleeping(vertx, http, true, timeoutMs)
            : Future.failedFuture("vLLM answered POST /sleep?level=" + level + " with " + r);
      });
    }

    @Override
    Future<Void> wake(Vertx vertx, UpstreamHttp http, long timeoutMs) {
      return http.post("/wake_up", null, timeoutMs).compose(r -> r.ok() ? isSleeping(vertx, http, false, timeoutMs)
          : Future.failedFuture("vLLM answered POST /wake_up with " + r));
    }

    private static Future<Void> isSleeping(Vertx vertx, UpstreamHttp http, boolean wanted, long timeoutMs) {
      return poll(vertx, timeoutMs, "vLLM's /is_sleeping to say " + wanted, () -> http.get("/is_sleeping", 5000)
          .map(r -> r.ok() && r.json().getBoolean("is_sleeping", !wanted) == wanted));
    }
  }

  /** Ollama: every model {@code GET /api/ps} lists is unloaded with {@code keep_alive: 0}; it loads again by itself. */
  static final class Ollama extends Adapter {
    @Override
    public String name() {
      return "ollama";
    }

    @Override
    public int residueMb() {
      return 0; // the model runners exit; the server holds no GPU memory of its own
    }

    @Override
    Future<Void> sleep(Vertx vertx, UpstreamHttp http, long timeoutMs) {
      return loaded(http).compose(names -> unloadEach(names, "Ollama", 404,
          n -> http.post("/api/generate", new JsonObject().put("model", n).put("keep_alive", 0), timeoutMs))).compose(v -> poll(vertx, timeoutMs, "Ollama's /api/ps to list no model",
          () -> loaded(http).map(List::isEmpty)));
    }

    private static Future<List<String>> loaded(UpstreamHttp http) {
      return http.get("/api/ps", 5000).compose(r -> {
        if (!r.ok()) {
          return Future.failedFuture("Ollama answered GET /api/ps with " + r);
        }
        List<String> names = new ArrayList<>();
        for (Object m : r.json().getJsonArray("models", new JsonArray())) {
          if (m instanceof JsonObject o && o.getString("name", o.getString("model")) != null) {
            names.add(o.getString("name", o.getString("model")));
          }
        }
        return Future.succeededFuture(names);
      });
    }
  }

  /**
   * llama.cpp's llama-server in router mode: every model {@code GET /models} shows loaded is
   * unloaded with {@code POST /models/unload}; the router loads it again on the next request. A plain
   * llama-server (one model, no {@code /models}) cannot unload: the front restarts it.
   */
  static final class LlamaServer extends Adapter {
    @Override
    public String name() {
      return "llama-server";
    }

    @Override
    public int residueMb() {
      return 0; // the router's model processes exit; the router itself holds no GPU memory
    }

    @Override
    Future<Void> sleep(Vertx vertx, UpstreamHttp http, long timeoutMs) {
      return running(http).compose(ids -> unloadEach(ids, "llama-server", 400,
          id -> http.post("/models/unload", new JsonObject().put("model", id), timeoutMs))).compose(v -> poll(vertx, timeoutMs, "llama-server's /models to show no model loaded",
          () -> running(http).map(List::isEmpty)));
    }

    private static Future<List<String>> running(UpstreamHttp http) {
      return http.get("/models", 5000).compose(r -> {
        if (r.status() == 404) {
          return Future.failedFuture(new Unsupported("llama-server has no /models (not in router mode)"));
        }
        if (!r.ok()) {
          return Future.failedFuture("llama-server answered GET /models with " + r);
        }
        List<String> ids = new ArrayList<>();
        for (Object m : r.json().getJsonArray("data", new JsonArray())) {
          if (m instanceof JsonObject o) {
            JsonObject status = o.getJsonObject("status", new JsonObject());
            String value = status.getString("value", "");
            if (value.equals("loaded") || value.equals("loading") || value.equals("sleeping")) {
              ids.add(o.getString("id"));
            }
          }
        }
        return Future.succeededFuture(ids);
      });
    }
  }

  /** ComfyUI: {@code POST /free} with both flags; done when {@code /system_stats} shows torch's memory gone. */
  static final class ComfyUi extends Adapter {
    private static final long FREED_BYTES = 64L << 20;

    @Override
    public String name() {
      return "comfyui";
    }

    @Override
    public int residueMb() {
      return 512; // the CUDA context of its one process
    }

    @Override
    Future<Void> sleep(Vertx vertx, UpstreamHttp http, long timeoutMs) {
      return http.post("/free", new JsonObject().put("unload_models", true).put("free_memory", true), timeoutMs)
          .compose(r -> r.ok() ? poll(vertx, timeoutMs, "ComfyUI's /system_stats to show its models unloaded",
              () -> http.get("/system_stats", 5000).map(s -> s.ok() && torchBytes(s.json()) <= FREED_BYTES))
              : Future.failedFuture("ComfyUI answered POST /free with " + r));
    }

    private static long torchBytes(JsonObject stats) {
      long sum = 0;
      for (Object d : stats.getJsonArray("devices", new JsonArray())) {
        if (d instanceof JsonObject o) {
          sum += o.getLong("torch_vram_total", 0L);
        }
      }
      return sum;
    }
  }

  /** Anything else: stopped on yield and started again on demand, as llama-swap does. */
  static final class Restart extends Adapter {
    @Override
    public String name() {
      return "restart";
    }

    @Override
    public boolean sleeps() {
      return false;
    }

    @Override
    public int residueMb() {
      return 0;
    }

    @Override
    Future<Void> sleep(Vertx vertx, UpstreamHttp http, long timeoutMs) {
      return Future.failedFuture(new Unsupported("the restart adapter stops the server"));
    }
  }

  /**
   * Unloads each model with {@code unload}; a 2xx, or {@code gone} (the model is not there, or not
   * running any more), counts as done.
   */
  static Future<Void> unloadEach(List<String> names, String server, int gone,
      Function<String, Future<UpstreamHttp.Reply>> unload) {
    List<Future<?>> unloads = new ArrayList<>();
    for (String n : names) {
      unloads.add(unload.apply(n).compose(r -> r.ok() || r.status() == gone ? Future.succeededFuture()
          : Future.failedFuture(server + " answered the unload of " + n + " with " + r)));
    }
    return Future.all(unloads).mapEmpty();
  }

  /** Asks {@code check} every 100 ms until it says true; fails with {@code what} after {@code timeoutMs}. */
  static Future<Void> poll(Vertx vertx, long timeoutMs, String what, Supplier<Future<Boolean>> check) {
    Promise<Void> done = Promise.promise();
    long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
    Function<Void, Void>[] step = new Function[1];
    step[0] = v -> {
      check.get().onComplete(ar -> {
        if (ar.succeeded() && ar.result()) {
          done.tryComplete();
        } else if (ar.failed() && ar.cause() instanceof Unsupported) {
          done.tryFail(ar.cause());
        } else if (System.nanoTime() > deadline) {
          done.tryFail("no " + what + " within " + timeoutMs + " ms"
              + (ar.failed() ? " (" + ar.cause().getMessage() + ")" : ""));
        } else {
          vertx.setTimer(100, t -> step[0].apply(null));
        }
      });
      return null;
    };
    step[0].apply(null);
    return done.future();
  }
}
