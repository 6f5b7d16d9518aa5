package io.iqa.sidecar.service;

import io.iqa.holder.HolderEvent;
import io.iqa.client.Lease;
import io.iqa.holder.HolderLease;
import io.iqa.holder.HolderRules;
import io.iqa.holder.HolderRules.Placement;
import io.iqa.holder.Upstream;
import io.iqa.sidecar.model.ModelEntry;
import io.iqa.sidecar.model.ModelRegistry;
import io.iqa.sidecar.model.NativeRuntimes;
import io.iqa.sidecar.samples.SampleImages;
import io.iqa.sidecar.worker.Frame;
import io.iqa.sidecar.worker.ModelInfo;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * The worker processes of the sidecar's {@link Lifecycle}: its {@link Upstream}, by number ({@code gen}): starts one on the leased
 * GPU, on CPU or as configured, keeps the models its READY lists, and stops, kills or tells the
 * deadline to the one the rules name. Every worker it starts reports back through {@code events}
 * (ready, failed, gone), once each. Runs on the front's event loop.
 */
final class WorkerSlot implements Upstream {

  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(WorkerSlot.class);

  private final Vertx vertx;
  private final SidecarOptions options;
  private final Path baseDir;
  private final WorkQueue queue;
  private final SidecarMetrics metrics;
  private final HolderLease lease;
  private final Map<String, ModelInfo> models = new LinkedHashMap<>();
  /** Every worker not gone yet, by its number. */
  private final Map<Integer, WorkerProcess> running = new LinkedHashMap<>();
  private final Map<Integer, Placement> placements = new LinkedHashMap<>();
  private int current;
  private final WorkerClassArchive archive;
  private final List<String> runtimes;
  private final ArchiveTraining training;

  /** @param lease the lease a {@link Placement#LEASED_GPU} worker runs under; null when there is none */
  WorkerSlot(Vertx vertx, SidecarOptions options, Path baseDir, List<ModelEntry> entries, WorkQueue queue,
      SidecarMetrics metrics, HolderLease lease) {
    this.vertx = vertx;
    this.options = options;
    this.baseDir = baseDir;
    this.queue = queue;
    this.metrics = metrics;
    this.lease = lease;
    entries.forEach(e -> models.put(e.name(), null));
    runtimes = NativeRuntimes.needed(entries);
    archive = WorkerClassArchive.of(options.worker().archiveDir(), options.worker().jvmArgs());
    training = new ArchiveTraining(vertx, archive, () -> !running.isEmpty(), tmp -> new WorkerLaunch(
        init(Placement.CPU), this::warmupImage, Lease.noGpuEnv(), options.worker().jvmArgs(),
        options.worker().startTimeoutS() * 1000, tmp, runtimes));
    // What the workers of a front that was killed left behind (theirs die with it).
    vertx.executeBlocking(() -> io.iqa.client.TempDirs.sweep(WorkerLaunch.TMP_PREFIX), false)
        .onSuccess(n -> {
          if (n > 0) {
            LOG.info("deleted {} temporary folder(s) of workers whose sidecar is gone", n);
          }
        });
    if (options.worker().warmup()) {
      vertx.executeBlocking(SampleImages::warmupJpeg, false); // ready by the time the first worker connects
    }
    training.later();
  }

  /** Starts worker {@code gen}; what becomes of it comes back as events. */
  @Override
  public void launch(int gen, Placement where, Long stopBy, Consumer<HolderEvent> events) {
    Map<String, String> env = switch (where) {
      case LEASED_GPU -> lease.workerEnv();
      case CPU -> Lease.noGpuEnv();
      case AS_CONFIGURED -> Map.of();
    };
    training.stop(false);
    List<String> jvmArgs = new ArrayList<>(options.worker().jvmArgs());
    jvmArgs.addAll(archive.jvmArgs());
    WorkerProcess w = WorkerProcess.start(vertx, new WorkerLaunch(init(where), this::warmupImage, env, jvmArgs,
        options.worker().startTimeoutS() * 1000, null, runtimes), stopBy, this::frame);
    running.put(gen, w);
    placements.put(gen, where);
    current = gen;
    w.ready().onComplete(ar -> {
      if (ar.succeeded()) {
        loaded(ar.result(), where);
        events.accept(new HolderEvent.WorkerReady(System.nanoTime(), gen, ar.result().getLong("load_ms", 0L)));
      } else if (ar.cause() instanceof ModelsFailed && !w.exited().isComplete()) {
        events.accept(new HolderEvent.WorkerFailed(System.nanoTime(), gen, ar.cause().getMessage()));
      }
      // Else it could not start or died while loading: its WorkerGone says so (worker_failed).
    });
    w.exited().onComplete(ar -> {
      running.remove(gen);
      events.accept(new HolderEvent.WorkerGone(System.nanoTime(), gen, ar.result(), w.goneWhy()));
      training.later();
    });
  }

  private byte[] warmupImage() {
    return options.worker().warmup() ? SampleImages.warmupJpeg() : new byte[0];
  }

  /** The sidecar stops: no class archive training outlives it. */
  void stopTraining() {
    training.stop(true);
  }

  private JsonObject init(Placement where) {
    // Under a lease the worker sees one GPU, the leased one, as device 0; on CPU it sees none.
    JsonObject config = where == Placement.AS_CONFIGURED ? options.json()
        : ModelRegistry.placed(options.json(), where == Placement.CPU ? "cpu" : "cuda:0");
    return new JsonObject().put("config", config).put("base_dir", baseDir.toString()).put("limits", new JsonObject()
        .put("max_image_bytes", options.maxImageBytes()).put("max_image_pixels", options.maxImagePixels())
        .put("max_queue_delay_ms", options.batching().maxQueueDelayMs())
        .put("queue_limit", options.batching().queueLimit()).put("workers", options.batching().workers())
        // A worker started for images that wait skips the warm-up: it is there for the images that come
        // after READY, while each waiting image would wait for the whole of it (and pays the first calls anyway).
        .put("warmup", options.worker().warmup() && !queue.hasPending()));
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
  private void loaded(JsonObject ready, Placement where) {
    for (Object o : ready.getJsonArray("models")) {
      ModelInfo m = ModelInfo.fromJson((JsonObject) o);
      models.put(m.name(), where == Placement.LEASED_GPU && m.device().startsWith("cuda") && lease.gpu() != null
          ? m.withDevice("cuda:" + lease.gpu()) : m);
    }
  }

  /** @return where worker {@code gen}'s jobs go */
  Consumer<Frame> sender(int gen) {
    WorkerProcess w = running.get(gen);
    return w == null ? f -> { } : w::send;
  }

  /** Tells worker {@code gen} {@code what}, if it still runs. */
  private void tell(int gen, Consumer<WorkerProcess> what) {
    Optional.ofNullable(running.get(gen)).ifPresent(what);
  }

  @Override
  public void stop(int gen, long withinMs) {
    tell(gen, w -> w.stop(withinMs));
  }

  @Override
  public void kill(int gen) {
    tell(gen, WorkerProcess::kill);
  }

  @Override
  public void stopBy(int gen, long nanos) {
    tell(gen, w -> w.stopBy(nanos));
  }

  /**
   * @return why the current worker counts as hung (no frame, not even a heartbeat, for {@code
   *     heartbeatNanos}; or a job sent longer ago than {@code jobNanos}), or null
   */
  @Override
  public String hung(int gen, long heartbeatNanos, long jobNanos) {
    WorkerProcess w = running.get(gen);
    if (w == null || w.pid() == null || !w.ready().isComplete()) {
      return null; // starting: worker.start_timeout_s is its bound
    }
    long silent = w.silentNanos();
    if (silent > heartbeatNanos) {
      return "no heartbeat for " + silent / 1_000_000 + " ms (worker.heartbeat_timeout_s="
          + heartbeatNanos / 1_000_000_000 + ")";
    }
    long oldest = queue.oldestSentNanos();
    if (oldest > 0 && System.nanoTime() - oldest > jobNanos) {
      return "an image sent " + (System.nanoTime() - oldest) / 1_000_000 + " ms ago has no answer (worker.job_timeout_s="
          + jobNanos / 1_000_000_000 + ")";
    }
    return null;
  }

  /** @return the models by name: what the last worker loaded, null for a model no worker has loaded yet */
  Map<String, ModelInfo> models() {
    return models;
  }

  String devices() {
    return String.join("+", models.values().stream().filter(m -> m != null).map(ModelInfo::device).distinct().toList());
  }

  /** The worker's state in /health ({@code worker.state}). */
  enum WorkerState implements io.iqa.protocol.wire.WireEnum { STOPPED, LOADING, SERVING, STOPPING }

  /** The worker part of /health: the current worker's state and pid. */
  @Override
  public JsonObject health(HolderRules.Phase phase) {
    WorkerProcess w = running.get(current);
    if (w == null) {
      return new JsonObject().put("state", WorkerState.STOPPED.wireName()).put("class_archive", archive.health());
    }
    WorkerState state = phase == HolderRules.Phase.DRAINING || phase == HolderRules.Phase.LEASE_LOST
        || phase == HolderRules.Phase.SHUTTING_DOWN ? WorkerState.STOPPING
        : w.ready().succeeded() ? WorkerState.SERVING : WorkerState.LOADING;
    return new JsonObject().put("state", state.wireName()).put("pid", w.pid()).put("class_archive", archive.health());
  }
}
