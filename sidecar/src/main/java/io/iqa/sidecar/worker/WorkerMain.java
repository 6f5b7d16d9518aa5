package io.iqa.sidecar.worker;

import io.iqa.server.HttpError;
import io.iqa.sidecar.image.ImageDecodeException;
import io.iqa.sidecar.image.ImageDecoder;
import io.iqa.sidecar.image.Need;
import io.iqa.sidecar.model.ImageInput;
import io.iqa.sidecar.model.ImageModel;
import io.iqa.sidecar.model.ModelRegistry;
import io.iqa.sidecar.model.Score;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.WorkerExecutor;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sidecar's GPU worker: a process of its own, started by the front when it holds the GPU (or
 * runs on CPU) and stopped to free the GPU, since only the end of a process frees all the memory
 * a CUDA or TensorFlow runtime took. It connects to the front's socket, loads the models of
 * {@link Frame.Type#INIT}, says {@link Frame.Type#READY}, then scores the images of each
 * {@link Frame.Type#JOB} through one dynamic {@link Batcher} per model, decoding each image once,
 * at the scale its models need, on a decode pool. Before READY every model runs one batch
 * ({@link WarmUp}), so the first request is not the slow one.
 * On {@link Frame.Type#STOP} the model calls running finish, images not started are handed back
 * (the front sends them to the next worker), the models close and the process exits. If the front
 * goes away (its socket closes, or it dies: the worker has a parent-death signal) the worker exits
 * at once.
 */
public final class WorkerMain {

  private static final Logger LOG = LoggerFactory.getLogger(WorkerMain.class);

  /** Thrown into the promises of images not started when the worker stops: the front re-queues them. */
  static final class HandBack extends RuntimeException {
    HandBack() {
      super("handed back: the worker is stopping", null, false, false);
    }
  }

  private final FrameChannel out;
  private final Vertx vertx = Vertx.vertx();
  private final Context context = vertx.getOrCreateContext();
  private final Map<String, Batcher> batchers = new LinkedHashMap<>();
  private ModelRegistry registry;
  private ImageDecoder decoder;
  private WorkerExecutor decodePool;
  private boolean stopping;

  private WorkerMain(Path socket) throws IOException {
    out = FrameChannel.connect(socket, f -> context.runOnContext(v -> handle(f)), e -> {
      LOG.warn("the front closed the socket{}; exiting", e == null ? "" : " (" + e.getMessage() + ")");
      Runtime.getRuntime().halt(1);
    });
  }

  /** {@code WorkerMain SOCKET}: connects to the front's socket and serves it until told to stop. */
  public static void main(String[] args) {
    if (args.length != 1) {
      System.err.println("usage: WorkerMain SOCKET (the sidecar starts this process itself)");
      System.exit(2);
    }
    try {
      new WorkerMain(Path.of(args[0]));
      // Everything happens on the event loop and the socket threads; the process ends by exit or halt.
      Thread.currentThread().join();
    } catch (IOException e) {
      System.err.println("iqa worker: cannot connect to the front at " + args[0] + ": " + e.getMessage());
      System.exit(2);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private void handle(Frame frame) {
    switch (frame.type()) {
      case INIT -> init(frame.header());
      case JOB -> job(frame);
      case STOP -> stop();
      default -> LOG.warn("ignoring a {} frame", frame.type());
    }
  }

  /** Loads the models (off the event loop), then says READY with what loaded, or FAILED and exits. */
  private void init(JsonObject init) {
    JsonObject limits = init.getJsonObject("limits");
    long started = System.nanoTime();
    vertx.executeBlocking(() -> ModelRegistry.load(init.getJsonObject("config"), Path.of(init.getString("base_dir"))))
        .compose(loaded -> {
          registry = loaded;
          decoder = new ImageDecoder(limits.getLong("max_image_bytes"), limits.getLong("max_image_pixels"));
          decodePool = vertx.createSharedWorkerExecutor("worker-decode", limits.getInteger("workers"));
          for (ImageModel m : registry.models()) {
            batchers.put(m.name(), new Batcher(vertx, m, registry.maxBatch(), limits.getLong("max_queue_delay_ms"),
                limits.getInteger("queue_limit"), (model, size, nanos) -> out.send(Frame.of(Frame.Type.BATCH,
                    new JsonObject().put("model", model).put("size", size).put("nanos", nanos)))));
          }
          return vertx.executeBlocking(() -> WarmUp.run(registry, decoder));
        })
        .onSuccess(warmupMs -> {
          JsonArray models = new JsonArray();
          for (ImageModel m : registry.models()) {
            models.add(new ModelInfo(m.name(), m.backend(), m.device(), m.inputs(), m.loadMs(),
                warmupMs.get(m.name()), registry.fingerprint(m.name()), m.fallbackReason(),
                registry.scale(m.name())).toJson());
          }
          out.send(Frame.of(Frame.Type.READY, new JsonObject().put("models", models)
              .put("load_ms", (System.nanoTime() - started) / 1_000_000).put("pid", ProcessHandle.current().pid())));
          if (stopping) {
            stopping = false;
            stop();
          }
        })
        .onFailure(e -> {
          LOG.error("models did not load: {}", e.getMessage());
          out.send(Frame.of(Frame.Type.FAILED, new JsonObject().put("message", String.valueOf(e.getMessage()))));
          out.finish(5000);
          System.exit(2);
        });
  }

  /** Decodes the image once, at what the job's models need, then queues it on each model's batcher. */
  private void job(Frame frame) {
    long id = frame.header().getLong("id");
    List<String> names = new ArrayList<>();
    Need need = Need.NONE;
    for (Object o : frame.header().getJsonArray("models")) {
      String model = (String) o;
      if (stopping || registry == null) {
        result(id, model, null, new HandBack());
      } else if (!batchers.containsKey(model)) {
        result(id, model, null, new HttpError(400, "bad_request", "model '" + model + "' is not loaded"));
      } else {
        names.add(model);
        need = need.and(registry.get(model).need());
      }
    }
    if (names.isEmpty()) {
      return;
    }
    // A model that reads the encoded bytes needs no pixels, but the bytes must still be an image.
    ImageInput input = ImageInput.lazy(frame.payload(), decoder, need.none() ? Need.ofInput(1, 1) : need);
    decodePool.executeBlocking(input::decoded, false).onComplete(decoded -> {
      if (decoded.failed()) {
        input.close();
        names.forEach(m -> result(id, m, null, decoded.cause()));
        return;
      }
      int[] left = {names.size()};
      for (String model : names) {
        Batcher b = batchers.get(model);
        (stopping ? Future.<Score>failedFuture(new HandBack()) : b.submit(input)).onComplete(ar -> {
          result(id, model, ar.result(), ar.cause());
          if (--left[0] == 0) {
            input.close();
          }
        });
      }
    });
  }

  private void result(long id, String model, Score score, Throwable error) {
    JsonObject r = new JsonObject().put("id", id).put("model", model);
    if (error == null) {
      r.put("value", score.value()).put("std", score.std());
    } else if (error instanceof HandBack) {
      r.put("hand_back", true);
    } else if (error instanceof ImageDecodeException de) {
      r.put("error", new JsonObject().put("status", de.httpStatus()).put("code", de.errorCode())
          .put("message", de.getMessage()));
    } else if (error instanceof HttpError he) {
      r.put("error", new JsonObject().put("status", he.status()).put("code", he.code()).put("message", he.getMessage())
          .put("retry_after_s", he.retryAfterS()));
    } else {
      LOG.error("model {} failed on an image", model, error);
      r.put("error", new JsonObject().put("status", 500).put("code", "model_failed")
          .put("message", model + " failed: " + error));
    }
    out.send(Frame.of(Frame.Type.RESULT, r));
  }

  /** Hands back what has not started, lets running model calls finish, closes the models, exits. */
  private void stop() {
    if (stopping) {
      return;
    }
    stopping = true;
    if (registry == null) {
      return; // still loading: stops once loaded
    }
    batchers.values().forEach(b -> b.stop(new HandBack()));
    vertx.setPeriodic(0, 5, id -> {
      if (batchers.values().stream().allMatch(b -> b.running() == 0)) {
        vertx.cancelTimer(id);
        new Thread(() -> {
          long t0 = System.nanoTime();
          registry.close();
          LOG.info("models closed in {} ms; the worker exits", (System.nanoTime() - t0) / 1_000_000);
          out.send(Frame.of(Frame.Type.STOPPED, new JsonObject()));
          out.finish(5000);
          // The front kills this process on STOPPED (a JVM's own exit waits up to 300 ms for threads
          // blocked in native calls); halting is the fallback.
          Runtime.getRuntime().halt(0);
        }, "worker-stop").start();
      }
    });
  }
}
