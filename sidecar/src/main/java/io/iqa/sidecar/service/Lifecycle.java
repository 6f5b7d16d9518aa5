package io.iqa.sidecar.service;

import io.iqa.holder.GpuMode;
import io.iqa.holder.HolderLoop;
import io.iqa.holder.HolderRules;
import io.iqa.holder.HolderRules.Phase;
import io.iqa.sidecar.model.ModelConfigException;
import io.iqa.sidecar.model.ModelEntry;
import io.iqa.sidecar.worker.ModelInfo;
import io.iqa.sidecar.worker.Frame;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;
import java.util.Map;
import java.util.function.IntConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * When the sidecar holds the GPU: the project's one holder lifecycle ({@link HolderLoop} over
 * {@link HolderRules}, shared with {@code iqa gpu serve}) with the sidecar's worker processes as
 * its upstream ({@link WorkerSlot}) and the images waiting to be scored as its work
 * ({@link WorkQueue}).
 */
final class Lifecycle {

  private static final Logger LOG = LoggerFactory.getLogger(Lifecycle.class);

  private final SidecarOptions options;
  private final GpuMode mode;
  private final HolderLoop loop;
  final WorkQueue queue;
  private final WorkerSlot workers;
  private final List<ModelEntry> entries;

  Lifecycle(Vertx vertx, SidecarOptions options, Path baseDir, List<ModelEntry> entries, SidecarMetrics metrics,
      IntConsumer exit) {
    this.options = options;
    this.entries = List.copyOf(entries);
    this.mode = options.gpuMode(entries);
    LeaseOptions.BrokerAddress broker = options.broker();
    this.loop = new HolderLoop(vertx,
        new HolderRules.Settings(mode, options.leaseRequired(), options.onLeaseLost(),
            options.drainTimeoutS() * 1000, options.leaseRequest().waitS(), "sidecar"),
        new HolderLoop.Timing(options.idleReleaseS(),
            "no cache miss for idle_release_s=" + options.idleReleaseS(), options.worker().heartbeatTimeoutS(),
            options.worker().jobTimeoutS()),
        !options.hasBroker() ? null : new HolderLoop.LeaseSpec(broker.url(), broker.token(),
            options.leaseRequest()),
        exit);
    this.queue = new WorkQueue(options.batching().queueLimit(), loop.demand(), metrics::stage, this::sender);
    this.workers = new WorkerSlot(vertx, options, baseDir.toAbsolutePath(), entries, queue, metrics, loop.lease());
    loop.bind(workers, queue);
  }

  /** Where the queue sends worker {@code gen}'s frames. */
  private Consumer<Frame> sender(int gen) {
    return workers.sender(gen);
  }

  /**
   * Starts warm: takes the lease if the GPU is free now (no waiting) and loads the models, so a
   * model that does not load stops the start. A busy GPU leaves the sidecar idle (or on CPU when
   * the lease is not required) until the first cache miss.
   */
  Future<Void> start() {
    if (mode == GpuMode.UNGUARDED) {
      LOG.warn("no broker configured: the models run where configured ({}) and nothing guards the GPU",
          options.json().getString("device", "auto"));
    }
    return loop.start().recover(e -> Future.failedFuture(e instanceof HolderLoop.StartFailed
        ? new ModelConfigException(e.getMessage()) : e));
  }

  /**
   * {@code POST /release}: the worker stops (running calls finish, the rest waits), the lease is
   * released; cache hits are still served and the next miss brings a worker back. Completes when the
   * GPU is back (idle).
   */
  Future<Void> release(String why) {
    return loop.release(why);
  }

  /** Drains, stops the worker, releases the lease. {@code drained} completes when in-flight requests are done. */
  Future<Void> shutdown(String why, Future<Void> drained) {
    workers.stopTraining();
    return loop.shutdown(why, drained);
  }

  Phase state() {
    return loop.state();
  }

  /** @return the models by name: what the last worker loaded, null for a model no worker has loaded yet */
  Map<String, ModelInfo> models() {
    return workers.models();
  }

  /** @return the configured models, in order */
  List<ModelEntry> entries() {
    return entries;
  }

  boolean serving() {
    return state() == Phase.SERVING;
  }

  String devices() {
    return workers.devices();
  }

  /** The lifecycle part of /health. */
  JsonObject health() {
    return loop.health();
  }
}
