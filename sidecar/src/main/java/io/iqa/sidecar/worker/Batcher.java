package io.iqa.sidecar.worker;

import io.iqa.server.HttpError;
import io.iqa.sidecar.image.ImageDecodeException;
import io.iqa.sidecar.model.ImageInput;
import io.iqa.sidecar.model.ImageModel;
import io.iqa.sidecar.model.Score;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.WorkerExecutor;
import java.util.ArrayList;
import java.util.List;

/**
 * Dynamic batching for one model, as Triton does it: images submitted while a batch is forming
 * join it; the batch runs when it holds {@code maxBatch} images or {@code maxDelayMs} after its
 * first image, on a bounded worker pool. More than {@code queueLimit} images waiting or running
 * is refused with 503 {@code overloaded} instead of growing without bound (the front keeps the
 * same bound, so this is a second line). Runs in the GPU worker, on its one event loop.
 */
final class Batcher {

  /** Told of every model call: the model, how many images, how long (decoding included). */
  interface BatchListener {
    void batch(String model, int size, long nanos);
  }

  private final Vertx vertx;
  private final ImageModel model;
  private final int maxBatch;
  private final long maxDelayMs;
  private final int queueLimit;
  private final WorkerExecutor pool;
  private final BatchListener metrics;
  private List<Pending> forming = new ArrayList<>();
  private long timer = -1;
  private int outstanding;
  private int runningBatches;
  private RuntimeException stopped;

  private record Pending(ImageInput input, Promise<Score> promise) {
  }

  Batcher(Vertx vertx, ImageModel model, int maxBatch, long maxDelayMs, int queueLimit, WorkerExecutor pool,
      BatchListener metrics) {
    this.vertx = vertx;
    this.model = model;
    this.maxBatch = maxBatch;
    this.maxDelayMs = maxDelayMs;
    this.queueLimit = queueLimit;
    this.pool = pool;
    this.metrics = metrics;
  }

  Future<Score> submit(ImageInput input) {
    if (stopped != null) {
      return Future.failedFuture(stopped);
    }
    if (outstanding >= queueLimit) {
      return Future.failedFuture(new HttpError(503, "overloaded", model.name() + " has " + outstanding
          + " images queued or running (queue_limit " + queueLimit + "); retry later"));
    }
    outstanding++;
    Promise<Score> promise = Promise.promise();
    forming.add(new Pending(input, promise));
    if (forming.size() >= maxBatch || maxDelayMs <= 0) {
      flush();
    } else if (timer < 0) {
      timer = vertx.setTimer(maxDelayMs, t -> {
        timer = -1;
        flush();
      });
    }
    return promise.future();
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
   * submit. Calls already running finish.
   */
  void stop(RuntimeException why) {
    stopped = why;
    if (timer >= 0) {
      vertx.cancelTimer(timer);
      timer = -1;
    }
    List<Pending> waiting = forming;
    forming = new ArrayList<>();
    outstanding -= waiting.size();
    waiting.forEach(p -> p.promise().fail(why));
  }

  private void flush() {
    if (timer >= 0) {
      vertx.cancelTimer(timer);
      timer = -1;
    }
    if (forming.isEmpty()) {
      return;
    }
    List<Pending> batch = forming;
    forming = new ArrayList<>();
    long t0 = System.nanoTime();
    runningBatches++;
    // Decoding happens here, on the inference worker, the first time any model needs the image:
    // no extra hop through another pool. An image that does not decode fails alone.
    pool.executeBlocking(() -> {
      Object[] outcome = new Object[batch.size()];
      List<ImageInput> good = new ArrayList<>(batch.size());
      for (int i = 0; i < batch.size(); i++) {
        try {
          batch.get(i).input().rgb();
          good.add(batch.get(i).input());
        } catch (ImageDecodeException e) {
          outcome[i] = e;
        }
      }
      List<Score> scores = good.isEmpty() ? List.of() : model.score(good);
      for (int i = 0, g = 0; i < batch.size(); i++) {
        if (outcome[i] == null) {
          outcome[i] = scores.get(g++);
        }
      }
      return outcome;
    }, false).onComplete(ar -> {
      runningBatches--;
      outstanding -= batch.size();
      metrics.batch(model.name(), batch.size(), System.nanoTime() - t0);
      for (int i = 0; i < batch.size(); i++) {
        Promise<Score> promise = batch.get(i).promise();
        if (ar.failed()) {
          promise.fail(ar.cause());
        } else if (ar.result()[i] instanceof Score s) {
          promise.complete(s);
        } else {
          promise.fail((Throwable) ar.result()[i]);
        }
      }
    });
  }
}
