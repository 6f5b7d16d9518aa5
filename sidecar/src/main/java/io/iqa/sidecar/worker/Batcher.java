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
 * decoded. A batch the model fails on (or answers with another number of scores than images) is
 * run again image by image, so one image the model cannot take fails alone and the others are
 * scored. Runs in the GPU worker, on its one event loop.
 */
final class Batcher {

  /** Told of every model call: the model, how many images, how long. */
  interface BatchListener {
    void batch(String model, int size, long nanos);
  }

  /** One image's score, and how long it waited for its batch. */
  record Scored(Score score, long waitNanos) {
  }

  private record Pending(ImageInput input, Promise<Scored> promise, long queuedNanos) {
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

  Future<Scored> submit(ImageInput input) {
    if (stopped != null) {
      return Future.failedFuture(stopped);
    }
    if (outstanding >= queueLimit) {
      return Future.failedFuture(HttpError.overloaded(model.name() + " has " + outstanding
          + " images queued or running (queue_limit " + queueLimit + "); retry later", 1));
    }
    outstanding++;
    Promise<Scored> promise = Promise.promise();
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
      Throwable failed = ar.failed() ? ar.cause()
          : ar.result() == null || ar.result().size() != batch.size()
              ? new IllegalStateException(model.name() + " returned " + (ar.result() == null ? "no" : ar.result().size())
                  + " scores for " + batch.size() + " images")
              : null;
      if (failed == null) {
        finish(batch, t0, new ArrayList<>(ar.result()));
      } else if (batch.size() == 1) {
        finish(batch, t0, List.of(failed));
      } else {
        // One image may be what the model cannot take: each alone, so only that one fails.
        runner.executeBlocking(() -> eachAlone(inputs), true)
            .onComplete(each -> finish(batch, t0, each.succeeded() ? each.result() : nCopies(batch.size(), each.cause())));
      }
    });
  }

  /** @return per image, its score or what the model threw on it alone */
  private List<Object> eachAlone(List<ImageInput> inputs) {
    List<Object> out = new ArrayList<>(inputs.size());
    for (ImageInput input : inputs) {
      try {
        List<Score> one = model.score(List.of(input));
        out.add(one != null && one.size() == 1 ? one.get(0)
            : new IllegalStateException(model.name() + " returned " + (one == null ? "no" : one.size())
                + " scores for 1 image"));
      } catch (Exception | LinkageError e) {
        out.add(e);
      }
    }
    return out;
  }

  private static List<Object> nCopies(int n, Throwable t) {
    return new ArrayList<>(java.util.Collections.nCopies(n, t));
  }

  /** @param results per image of {@code batch}, a {@link Score} or the {@link Throwable} it failed with */
  private void finish(List<Pending> batch, long t0, List<?> results) {
    runningBatches--;
    outstanding -= batch.size();
    metrics.batch(model.name(), batch.size(), System.nanoTime() - t0);
    for (int i = 0; i < batch.size(); i++) {
      Promise<Scored> promise = batch.get(i).promise();
      Object r = results.get(i);
      if (r instanceof Score score) {
        promise.complete(new Scored(score, t0 - batch.get(i).queuedNanos()));
      } else {
        promise.fail((Throwable) r);
      }
    }
    schedule();
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
