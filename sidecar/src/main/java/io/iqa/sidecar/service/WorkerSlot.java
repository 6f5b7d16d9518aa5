package io.iqa.sidecar.service;

import io.iqa.client.Lease;
import io.iqa.sidecar.model.ModelEntry;
import io.iqa.sidecar.model.ModelRegistry;
import io.iqa.sidecar.worker.Frame;
import io.iqa.sidecar.worker.ModelInfo;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@link Lifecycle}'s worker process, one at a time: starts it on the leased GPU, on CPU or as
 * configured, keeps the models its READY lists, and stops it, keeping a stopping worker until its
 * process is gone. Runs on the front's event loop.
 */
final class WorkerSlot {

  private static final Logger LOG = LoggerFactory.getLogger(WorkerSlot.class);

  /** Where one worker runs its models. */
  enum Placement { LEASED_GPU, CPU, AS_CONFIGURED }

  private final Vertx vertx;
  private final SidecarOptions options;
  private final Path baseDir;
  private final WorkQueue queue;
  private final SidecarMetrics metrics;
  private final SidecarLease lease;
  private final Map<String, ModelInfo> models = new LinkedHashMap<>();
  private WorkerProcess worker;
  /** A worker asked to stop, until its process is gone. */
  private WorkerProcess stopping;
  /** A yield asked for while the worker loaded: done once it has served what waited for it. */
  private Runnable afterLoad;

  /** @param lease the lease a {@link Placement#LEASED_GPU} worker runs under; null when there is none */
  WorkerSlot(Vertx vertx, SidecarOptions options, Path baseDir, List<ModelEntry> entries, WorkQueue queue,
      SidecarMetrics metrics, SidecarLease lease) {
    this.vertx = vertx;
    this.options = options;
    this.baseDir = baseDir;
    this.queue = queue;
    this.metrics = metrics;
    this.lease = lease;
    entries.forEach(e -> models.put(e.name(), null));
  }

  /** Starts a worker, the current one from now on. */
  WorkerProcess start(Placement where) {
    Map<String, String> env = switch (where) {
      case LEASED_GPU -> lease.workerEnv();
      case CPU -> Lease.noGpuEnv();
      case AS_CONFIGURED -> Map.of();
    };
    worker = WorkerProcess.start(vertx, init(where), env, options.workerJvmArgs(),
        options.workerStartTimeoutS() * 1000, this::frame);
    return worker;
  }

  private JsonObject init(Placement where) {
    // Under a lease the worker sees one GPU, the leased one, as device 0; on CPU it sees none.
    JsonObject config = where == Placement.AS_CONFIGURED ? options.json()
        : ModelRegistry.placed(options.json(), where == Placement.CPU ? "cpu" : "cuda:0");
    return new JsonObject().put("config", config).put("base_dir", baseDir.toString()).put("limits", new JsonObject()
        .put("max_image_bytes", options.maxImageBytes()).put("max_image_pixels", options.maxImagePixels())
        .put("max_queue_delay_ms", options.maxQueueDelayMs()).put("queue_limit", options.queueLimit())
        .put("workers", options.workers()).put("warmup", options.workerWarmup()));
  }

  private void frame(Frame f) {
    switch (f.type()) {
      case RESULT -> queue.result(f.header());
      case BATCH -> metrics.batch(f.header().getString("model"), f.header().getInteger("size"),
          f.header().getLong("nanos"));
      default -> { }
    }
  }

  /** Keeps the models a worker's READY header lists. */
  void loaded(JsonObject ready, Placement where) {
    for (Object o : ready.getJsonArray("models")) {
      ModelInfo m = ModelInfo.fromJson((JsonObject) o);
      models.put(m.name(), where == Placement.LEASED_GPU && m.device().startsWith("cuda")
          ? m.withDevice("cuda:" + lease.gpu()) : m);
    }
  }

  /** The worker {@code w} loaded its models: the queue's jobs go to it, then what waited for the load is done. */
  void serve(WorkerProcess w) {
    queue.attach(w::send);
    if (afterLoad != null) {
      Runnable then = afterLoad;
      afterLoad = null;
      then.run();
    }
  }

  /** Runs {@code then} once the loading worker serves (it is dropped if that worker is stopped first). */
  void whenServing(Runnable then) {
    afterLoad = then;
  }

  /** @return whether {@code w} is still the current worker (not stopped, failed or replaced since) */
  boolean current(WorkerProcess w) {
    return worker == w;
  }

  /** The current worker failed or crashed: it is no longer the current one. */
  void drop() {
    worker = null;
  }

  /** Finishes the images in hand (within {@code withinMs}), then stops the worker in the time left. */
  Future<Void> finishThenStop(long withinMs) {
    queue.detach();
    long deadline = System.nanoTime() + withinMs * 1_000_000;
    Promise<Void> answered = Promise.promise();
    long timer = vertx.setTimer(Math.max(1, withinMs), t -> answered.tryComplete());
    queue.whenSentAnswered().onComplete(ar -> {
      vertx.cancelTimer(timer);
      answered.tryComplete();
    });
    return answered.future().compose(v -> stop(Math.max(1, (deadline - System.nanoTime()) / 1_000_000)));
  }

  /** Stops taking jobs; the worker finishes what runs, hands back the rest, exits (killed after {@code withinMs}). */
  Future<Void> stop(long withinMs) {
    WorkerProcess w = worker;
    queue.detach();
    if (w == null) {
      return stopping == null ? Future.succeededFuture() : stopping.exited().mapEmpty();
    }
    worker = null; // from now on nothing that happens to w is a crash or a failed start
    stopping = w;
    afterLoad = null;
    if (!w.ready().isComplete()) {
      w.kill(); // still loading: nothing to finish
    }
    long t0 = System.nanoTime();
    return w.stop(withinMs).map(code -> {
      if (stopping == w) {
        stopping = null;
      }
      queue.workerGone(null, true);
      LOG.info("worker {} exited (code {}) {} ms after it was asked to stop; its GPU memory is free", w.pid(), code,
          (System.nanoTime() - t0) / 1_000_000);
      return null;
    });
  }

  /** @return the models by name: what the last worker loaded, null for a model no worker has loaded yet */
  Map<String, ModelInfo> models() {
    return models;
  }

  String devices() {
    return String.join("+", models.values().stream().filter(m -> m != null).map(ModelInfo::device).distinct().toList());
  }

  /** The worker part of /health. */
  JsonObject health() {
    return worker != null ? new JsonObject().put("state", worker.ready().succeeded() ? "serving" : "loading")
        .put("pid", worker.pid())
        : stopping != null ? new JsonObject().put("state", "stopping").put("pid", stopping.pid())
        : new JsonObject().put("state", "stopped");
  }
}
