package io.iqa.sidecar.worker;

import io.iqa.server.HttpError;
import io.iqa.sidecar.model.ImageInput;
import io.iqa.sidecar.model.ImageModel;
import io.iqa.sidecar.model.Score;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.WorkerExecutor;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * Dynamic batching for one model, as Triton's dynamic batcher does it. The model has its own
 * runner thread, so a slow model never waits behind a fast one. Images queue while the model's
 * previous batch runs; when the runner is free it takes {@code maxBatch} images at once if that
 * many wait, else it waits until the oldest image has waited {@code maxDelayMs} and takes what is
 * there. More than {@code queueLimit} images waiting or running is refused with 503
 * {@code overloaded} (the front keeps the same bound, so this is a second line). Images arrive
 * decoded. Runs in the GPU worker, on its one event loop.
 */
final class Batcher {

  /** Told of every model call: the model, how many images, how long. */
  interface BatchListener {
    void batch(String model, int size, long nanos);
  }

  private record Pending(ImageInput input, Promise<Score> promise, long queuedNanos) {
  }

  private final Vertx vertx;
  private final ImageModel model;
  private final int maxBatch;
  private final long maxDelayNanos;
  private final int queueLimit;
  private final WorkerExecutor runner;
  private final BatchListener metrics;
  private final Deque<Pending> queue = new ArrayDeque<>();
  private long timer = -1;
  private int outstanding;
  private int runningBatches;
  private RuntimeException stopped;

  Batcher(Vertx vertx, ImageModel model, int maxBatch, long maxDelayMs, int queueLimit, BatchListener metrics) {
    this.vertx = vertx;
    this.model = model;
    this.maxBatch = maxBatch;
    this.maxDelayNanos = maxDelayMs * 1_000_000;
    this.queueLimit = queueLimit;
    this.runner = vertx.createSharedWorkerExecutor("model-" + model.name(), 1);
    this.metrics = metrics;
  }

  Future<Score> submit(ImageInput input) {
    if (stopped != null) {
      return Future.failedFuture(stopped);
    }
    if (outstanding >= queueLimit) {
      return Future.failedFuture(HttpError.overloaded(model.name() + " has " + outstanding
          + " images queued or running (queue_limit " + queueLimit + "); retry later", 1));
    }
    outstanding++;
    Promise<Score> promise = Promise.promise();
    queue.addLast(new Pending(input, promise, System.nanoTime()));
    schedule();
    return promise.future();
  }

  /** Starts a batch when the runner is free and a full batch waits or the oldest image has waited long enough. */
  private void schedule() {
    if (runningBatches > 0 || queue.isEmpty()) {
      return;
    }
    long waited = System.nanoTime() - queue.peekFirst().queuedNanos();
    if (queue.size() >= maxBatch || waited >= maxDelayNanos) {
      if (timer >= 0) {
        vertx.cancelTimer(timer);
        timer = -1;
      }
      List<Pending> batch = new ArrayList<>(Math.min(maxBatch, queue.size()));
      while (batch.size() < maxBatch && !queue.isEmpty()) {
        batch.add(queue.pollFirst());
      }
      run(batch);
    } else if (timer < 0) {
      timer = vertx.setTimer(Math.max(1, (maxDelayNanos - waited + 999_999) / 1_000_000), t -> {
        timer = -1;
        schedule();
      });
    }
  }

  private void run(List<Pending> batch) {
    long t0 = System.nanoTime();
    runningBatches++;
    List<ImageInput> inputs = new ArrayList<>(batch.size());
    batch.forEach(p -> inputs.add(p.input()));
    runner.executeBlocking(() -> model.score(inputs), true).onComplete(ar -> {
      runningBatches--;
      outstanding -= batch.size();
      metrics.batch(model.name(), batch.size(), System.nanoTime() - t0);
      for (int i = 0; i < batch.size(); i++) {
        Promise<Score> promise = batch.get(i).promise();
        if (ar.failed()) {
          promise.fail(ar.cause());
        } else {
          promise.complete(ar.result().get(i));
        }
      }
      schedule();
    });
  }

  int outstanding() {
    return outstanding;
  }

  /** @return model calls running now (each may hold GPU memory until it returns) */
  int running() {
    return runningBatches;
  }

  /**
   * No more model calls: images waiting for a batch fail with {@code why}, and so does every later
   * submit. A call already running finishes.
   */
  void stop(RuntimeException why) {
    stopped = why;
    if (timer >= 0) {
      vertx.cancelTimer(timer);
      timer = -1;
    }
    List<Pending> waiting = new ArrayList<>(queue);
    queue.clear();
    outstanding -= waiting.size();
    waiting.forEach(p -> p.promise().fail(why));
  }
}
