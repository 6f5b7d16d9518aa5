package io.iqa.sidecar.service;

import io.vertx.core.Vertx;
import java.nio.file.Path;
import java.util.function.BooleanSupplier;
import java.util.function.Function;

/**
 * Makes the worker's class archive ({@link WorkerClassArchive}) when it is missing, with a training
 * worker on CPU, once the sidecar has had no worker of its own for {@value #AFTER_MS} ms. A real
 * worker that starts kills it ({@link #stop}); it is tried again later. Runs on the front's event loop.
 */
final class ArchiveTraining {

  /** How long the sidecar must have had no worker before a training worker makes the archive. */
  static final long AFTER_MS = 2000;

  private final Vertx vertx;
  private final WorkerClassArchive archive;
  private final BooleanSupplier workersRun;
  private final Function<Path, WorkerLaunch> launch;
  /** The worker making the class archive, while one runs. */
  private WorkerProcess training;
  private String endedWhy;
  /** The sidecar stops: no more training. */
  private boolean over;

  /**
   * @param workersRun whether a worker of the sidecar's own runs
   * @param launch a training worker's launch, given the folder its archive is written to
   */
  ArchiveTraining(Vertx vertx, WorkerClassArchive archive, BooleanSupplier workersRun,
      Function<Path, WorkerLaunch> launch) {
    this.vertx = vertx;
    this.archive = archive;
    this.workersRun = workersRun;
    this.launch = launch;
  }

  /** Trains in {@value #AFTER_MS} ms if the archive is wanted then and no worker runs. */
  void later() {
    if (archive.wanted()) {
      vertx.setTimer(AFTER_MS, t -> train());
    }
  }

  private boolean mayTrain() {
    return !over && !workersRun.getAsBoolean() && training == null;
  }

  private void train() {
    if (!mayTrain() || !archive.wanted()) {
      return;
    }
    vertx.executeBlocking(archive::begin, false).onSuccess(making -> {
      if (making == null) {
        return;
      }
      if (!mayTrain()) {
        vertx.executeBlocking(() -> {
          making.end(-1, "a worker started");
          return null;
        }, false);
        return;
      }
      WorkerProcess t = WorkerProcess.start(vertx, launch.apply(making.tmp), null, f -> { });
      training = t;
      endedWhy = null;
      t.ready().onSuccess(h -> t.stop(60_000));
      t.exited().onComplete(ar -> {
        String why = endedWhy;
        training = null;
        vertx.executeBlocking(() -> {
          making.end(ar.result(), why);
          return null;
        }, false).onComplete(v -> later());
      });
    });
  }

  /**
   * A real worker starts, or ({@code forGood}) the sidecar stops: a training worker must not take
   * their CPU or memory (nor outlive the sidecar).
   */
  void stop(boolean forGood) {
    over |= forGood;
    if (training != null) {
      endedWhy = "a worker started or the sidecar stops";
      training.kill();
    }
  }
}
