package io.iqa.sidecar.worker;

import io.iqa.protocol.wire.ErrorCode;
import io.iqa.server.HttpError;
import io.iqa.sidecar.image.ImageDecodeException;
import io.iqa.sidecar.image.DecodedImage;
import io.iqa.sidecar.image.ImageDecoder;
import io.iqa.sidecar.image.Need;
import io.iqa.sidecar.model.ImageInput;
import io.iqa.sidecar.model.ImageModel;
import io.iqa.sidecar.model.ModelRegistry;
import io.iqa.sidecar.model.Score;
import io.iqa.sidecar.samples.SampleImages;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.WorkerExecutor;
import io.vertx.core.json.JsonObject;
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
 * a CUDA or TensorFlow runtime took. It reads the front's frames on its stdin (and answers on its
 * stdout), loads the models of
 * {@link Frame.Type#INIT}, says {@link Frame.Type#READY}, then scores the images of each
 * {@link Frame.Type#JOB} through one dynamic {@link Batcher} per model, decoding each image once,
 * at the scale its models need, on a decode pool. Before READY every model is warmed up through
 * that same path, so the first request is not the slow one.
 * On {@link Frame.Type#STOP} the model calls running finish, images not started are handed back
 * (the front sends them to the next worker), the models close and the process exits. If the front
 * goes away (the worker's stdin ends, or it dies: the worker has a parent-death signal) the worker exits
 * at once; under a lease it also exits by the lease's deadline on its own clock when the front stops
 * sending newer ones ({@link LeaseDeadline}).
 */
public final class WorkerMain {

  private static final Logger LOG = LoggerFactory.getLogger(WorkerMain.class);

  private final FrameChannel out;
  private final LeaseDeadline deadline = new LeaseDeadline();
  private final Vertx vertx = Vertx.vertx();
  private final Context context = vertx.getOrCreateContext();
  private final Map<String, Batcher> batchers = new LinkedHashMap<>();
  private ModelRegistry registry;
  private ImageDecoder decoder;
  private WorkerExecutor decodePool;
  private boolean stopping;
  private boolean warmedUp;
  private final java.util.Map<String, Long> warmingNanos = new LinkedHashMap<>();
  /** The image the warm-up scores: INIT's payload (the front makes it once), else one drawn here. */
  private volatile byte[] warmupImage;
  private long modelsMs;
  /** When this worker connected to the front (just before: the INIT frame may come at once). */
  private volatile long connectedNanos;
  private long initMs;
  private long warmupMs;

  private WorkerMain() {
    connectedNanos = System.nanoTime();
    // The lease's deadline (INIT, DEADLINE) is taken at once, on the reader thread: a busy event loop
    // must not delay it.
    out = FrameChannel.ofStandardStreams(f -> {
      if (f.type() == Frame.Type.DEADLINE || f.type() == Frame.Type.INIT) {
        deadline.update(f.header());
      }
      if (f.type() != Frame.Type.DEADLINE) {
        if (f.type() == Frame.Type.INIT) {
          warmupImage = f.payload();
        }
        context.runOnContext(v -> handle(f));
      }
    }, stray -> LOG.warn("the front sent bytes that are not a frame: {}", stray), e -> {
      LOG.warn("the front closed the worker's stdin{}; exiting", e == null ? "" : " (" + e.getMessage() + ")");
      Runtime.getRuntime().halt(1);
    });
    deadline.start(out);
  }

  /**
   * {@code WorkerMain [RUNTIME,...]}: preloads the native runtimes named, then serves the front's
   * frames on stdin and answers on stdout until told to stop.
   */
  public static void main(String[] args) {
    if (args.length > 1) {
      System.err.println("usage: WorkerMain [RUNTIME,...] (the sidecar starts this process itself, and talks to it "
          + "on its stdin and stdout)");
      System.exit(2);
    }
    io.iqa.sidecar.model.NativeRuntimes.skipAbsentGpuBuilds();
    // The native runtimes the config needs load beside the JVM's start, the connection, the INIT
    // frame and the models.
    io.iqa.sidecar.model.NativeRuntimes.preload(args.length == 1 ? List.of(args[0].split(","))
        : io.iqa.sidecar.model.NativeRuntimes.needed(List.of()));
    // The INIT frame is JSON: Jackson's first use (its classes, Vert.x's codec lookup) happens here,
    // beside the connection, rather than between the connection and the models' load.
    io.iqa.sidecar.model.DaemonThreads.start("json-init",
        () -> new JsonObject("{\"warm\":[1,\"json\",{\"a\":true}]}").encode());
    try {
      new WorkerMain();
      // Everything happens on the event loop and the stream threads; the process ends by exit or halt.
      Thread.currentThread().join();
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
    initMs = (started - connectedNanos) / 1_000_000;
    vertx.executeBlocking(() -> ModelRegistry.load(init.getJsonObject("config"), Path.of(init.getString("base_dir"))))
        .compose(loaded -> {
          registry = loaded;
          modelsMs = (System.nanoTime() - started) / 1_000_000;
          decoder = new ImageDecoder(limits.getLong("max_image_bytes"), limits.getLong("max_image_pixels"));
          decodePool = vertx.createSharedWorkerExecutor("worker-decode", limits.getInteger("workers"));
          for (ImageModel m : registry.models()) {
            batchers.put(m.name(), new Batcher(vertx, m, registry.maxBatch(), limits.getLong("max_queue_delay_ms"),
                limits.getInteger("queue_limit"), this::batchDone));
          }
          return limits.getBoolean("warmup", true) ? warmUp() : Future.succeededFuture();
        })
        .onSuccess(v -> {
          warmedUp = true;
          out.send(ModelInfo.readyFrame(registry, warmingNanos, (System.nanoTime() - started) / 1_000_000,
              new JsonObject().put("init_ms", initMs).put("models_ms", modelsMs).put("warmup_ms", warmupMs)));
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

  private void job(Frame frame) {
    long id = frame.header().getLong("id");
    List<String> names = new ArrayList<>();
    for (Object o : frame.header().getJsonArray("models")) {
      String model = (String) o;
      if (stopping || registry == null) {
        result(id, model, null, new ResultFrame.HandBack(), null);
      } else if (!batchers.containsKey(model)) {
        result(id, model, null, new HttpError(ErrorCode.BAD_REQUEST, "model '" + model + "' is not loaded"), null);
      } else {
        names.add(model);
      }
    }
    score(frame.payload(), names, (model, score, error, times) -> result(id, model, score, error, times));
  }

  /** What became of one model's run on one image. */
  private interface Outcome {
    void of(String model, Score score, Throwable error, ResultFrame.Times times);
  }

  /**
   * Decodes the image once, at what its models need, on the decode pool, then queues it on each
   * model's batcher. @return completes when every model has answered
   */
  private Future<Void> score(byte[] encoded, List<String> names, Outcome outcome) {
    if (names.isEmpty()) {
      return Future.succeededFuture();
    }
    Need need = Need.NONE;
    for (String n : names) {
      need = need.and(registry.get(n).need());
    }
    // A model that reads the encoded bytes needs no pixels, but the bytes must still be an image.
    ImageInput input = ImageInput.lazy(encoded, decoder, need.none() ? Need.ofInput(1, 1) : need);
    List<ImageModel> models = names.stream().map(registry::get).toList();
    Promise<Void> all = Promise.promise();
    long[] decodeNanos = new long[1];
    decodePool.executeBlocking(() -> {
      long t0 = System.nanoTime();
      DecodedImage d = input.decoded();
      decodeNanos[0] = System.nanoTime() - t0;
      ImageModel.checkSize(models, d.fullWidth(), d.fullHeight());
      return d;
    }, false).onComplete(decoded -> {
      if (decoded.failed()) {
        input.close();
        names.forEach(m -> outcome.of(m, null, decoded.cause(), null));
        all.complete();
        return;
      }
      int[] left = {names.size()};
      for (String model : names) {
        Batcher b = batchers.get(model);
        (stopping ? Future.<Batcher.Scored>failedFuture(new ResultFrame.HandBack()) : b.submit(input)).onComplete(ar -> {
          outcome.of(model, ar.succeeded() ? ar.result().score() : null, ar.cause(),
              ar.succeeded() ? new ResultFrame.Times(decodeNanos[0], ar.result().waitNanos()) : null);
          if (--left[0] == 0) {
            input.close();
            all.complete();
          }
        });
      }
    });
    return all.future();
  }

  /**
   * Before READY, every model runs through the same path as a request's image (decode pool,
   * batcher, the model's runner thread): once on one image, then on a full batch of {@code max_batch}.
   * Runtimes allocate, compile and tune per input shape on their first calls
   * (ONNX Runtime's arenas, TensorFlow's graph, cuDNN's algorithm search on a GPU) and the JIT
   * compiles the path, so the first real request is not the slowest. The front turns it off for a
   * worker started for images that already wait (a cold start): they would wait for the whole of it.
   */
  private Future<Void> warmUp() {
    byte[] given = warmupImage;
    byte[] jpeg = given != null && given.length > 0 ? given : SampleImages.warmupJpeg();
    List<String> names = new ArrayList<>(batchers.keySet());
    Outcome check = (model, score, error, times) -> {
      if (error != null) {
        LOG.warn("warm-up of {} failed: {}", model, error.toString());
      }
    };
    long t0 = System.nanoTime();
    return score(jpeg, names, check).compose(v -> {
      List<Future<Void>> batch = new ArrayList<>();
      for (int i = 0; i < registry.maxBatch(); i++) {
        batch.add(score(jpeg, names, check));
      }
      return Future.all(batch).<Void>mapEmpty();
    }).onSuccess(v -> {
      warmupMs = (System.nanoTime() - t0) / 1_000_000;
      LOG.info("warmed up in {} ms (1 image, then {} at once, per model): {} ms of model calls", warmupMs,
          registry.maxBatch(), ModelInfo.millis(warmingNanos));
    });
  }

  /** A model call finished: its time goes to the warm-up's account until READY, then to the front's metrics. */
  private void batchDone(String model, int size, long nanos) {
    if (!warmedUp) {
      warmingNanos.merge(model, nanos, Long::sum);
    } else {
      out.send(Frame.of(Frame.Type.BATCH, new JsonObject().put("model", model).put("size", size).put("nanos", nanos)));
    }
  }

  private void result(long id, String model, Score score, Throwable error, ResultFrame.Times times) {
    if (error != null && !(error instanceof ResultFrame.HandBack || error instanceof ImageDecodeException
        || error instanceof HttpError)) {
      LOG.error("model {} failed on an image", model, error);
    }
    out.send(ResultFrame.of(id, model, score, error, times));
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
    batchers.values().forEach(b -> b.stop(new ResultFrame.HandBack()));
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
