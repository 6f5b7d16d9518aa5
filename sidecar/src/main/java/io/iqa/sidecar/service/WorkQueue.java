package io.iqa.sidecar.service;

import io.iqa.holder.Pending;
import io.iqa.protocol.wire.WireJson;
import io.iqa.server.HttpError;
import io.iqa.sidecar.model.Score;
import io.iqa.sidecar.worker.Frame;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.IntFunction;

/**
 * The front's queue of cache misses, bounded by {@code queue_limit} images per model: jobs wait
 * here while there is no worker (the GPU is being acquired, the worker is loading or stopping),
 * go to the worker once it serves, and come back here when a stopping worker hands them back,
 * for the next worker. A job is one image and the models still to run on it. Runs on the front's
 * event loop.
 */
final class WorkQueue implements Pending {

  private static final class Job {
    final long id;
    final byte[] bytes;
    final Map<String, Promise<Score>> models;
    final List<String> handedBack = new ArrayList<>();
    /** When it was sent to the worker (nanoTime), 0 while it waits. */
    long sentNanos;
    final long queuedNanos = System.nanoTime();
    boolean decodeTimed;

    Job(long id, byte[] bytes, Map<String, Promise<Score>> models) {
      this.id = id;
      this.bytes = bytes;
      this.models = models;
    }
  }

  private final int queueLimit;
  private final Runnable demand;
  private final Deque<Job> pending = new ArrayDeque<>();
  private final Map<Long, Job> sent = new HashMap<>();
  private final Map<String, Integer> outstanding = new HashMap<>();
  private Consumer<Frame> worker;
  private final List<Promise<Void>> sentWaiters = new ArrayList<>();
  private long nextId = 1;
  private long lastWorkNanos = System.nanoTime();

  /** Told where an image's time went ({@link SidecarMetrics#stage}). */
  interface Stages {
    void stage(String stage, long nanos);
  }

  private final Stages stages;
  private final IntFunction<Consumer<Frame>> senders;

  /**
   * @param demand called when a job waits and no worker takes it: bring one up @param stages told of
   *     each image's time waiting here, in the worker's decoder, for its batch, and in the worker
   * @param senders where to send worker {@code gen}'s frames
   */
  WorkQueue(int queueLimit, Runnable demand, Stages stages, IntFunction<Consumer<Frame>> senders) {
    this.queueLimit = queueLimit;
    this.demand = demand;
    this.stages = stages;
    this.senders = senders;
  }

  /** Queues {@code bytes} for {@code models}; a model with {@code queue_limit} images outstanding fails at once. */
  Map<String, Future<Score>> submit(byte[] bytes, List<String> models) {
    lastWorkNanos = System.nanoTime();
    Map<String, Future<Score>> out = new LinkedHashMap<>();
    Map<String, Promise<Score>> accepted = new LinkedHashMap<>();
    for (String m : models) {
      int n = outstanding.getOrDefault(m, 0);
      if (n >= queueLimit) {
        out.put(m, Future.failedFuture(HttpError.overloaded(m + " has " + n + " images queued or running (queue_limit "
            + queueLimit + "); retry later", 1)));
        continue;
      }
      outstanding.put(m, n + 1);
      Promise<Score> p = Promise.promise();
      accepted.put(m, p);
      out.put(m, p.future());
    }
    if (!accepted.isEmpty()) {
      pending.addLast(new Job(nextId++, bytes, accepted));
      pump();
    }
    return out;
  }

  /** Worker {@code gen} serves from now on: every waiting job goes to it. */
  @Override
  public void attach(int gen) {
    this.worker = senders.apply(gen);
    lastWorkNanos = System.nanoTime(); // idle time counts from when a worker serves
    pump();
  }

  /** The worker stops taking jobs (it is stopping); jobs wait here for the next one. */
  @Override
  public void detach() {
    worker = null;
  }

  private void pump() {
    if (worker == null) {
      if (!pending.isEmpty()) {
        demand.run();
      }
      return;
    }
    while (!pending.isEmpty()) {
      Job job = pending.pollFirst();
      job.sentNanos = System.nanoTime();
      stages.stage("front_queue", job.sentNanos - job.queuedNanos);
      sent.put(job.id, job);
      worker.accept(Frame.of(Frame.Type.JOB, new JsonObject().put("id", job.id)
          .put("models", new JsonArray(new ArrayList<>(job.models.keySet()))), job.bytes));
    }
  }

  /** One model's outcome for one job (a {@link Frame.Type#RESULT} header). */
  void result(JsonObject r) {
    Job job = sent.get(r.getLong("id"));
    String model = r.getString("model");
    if (job == null || !job.models.containsKey(model)) {
      return;
    }
    lastWorkNanos = System.nanoTime();
    if (r.getBoolean("hand_back", false)) {
      job.handedBack.add(model);
    } else {
      if (r.containsKey("decode_ns") && !job.decodeTimed) {
        job.decodeTimed = true;
        stages.stage("decode", r.getLong("decode_ns"));
      }
      if (r.containsKey("wait_ns")) {
        stages.stage("batch_wait", r.getLong("wait_ns"));
      }
      Promise<Score> p = job.models.remove(model);
      outstanding.merge(model, -1, Integer::sum);
      JsonObject e = r.getJsonObject("error");
      if (e == null) {
        p.complete(new Score(r.getDouble("value"), r.getDouble("std")));
      } else {
        p.fail(new HttpError(WireJson.fromMap(e.getMap(), HttpError.Refusal.class), null));
      }
    }
    if (job.models.size() == job.handedBack.size()) {
      sent.remove(job.id);
      if (job.handedBack.isEmpty()) {
        stages.stage("worker", System.nanoTime() - job.sentNanos);
      }
      if (!job.handedBack.isEmpty()) {
        handBack(job);
      }
      notifySentWaiters();
    }
  }

  /** @return completes once every job sent to the worker is answered (at once when none is out) */
  @Override
  public Future<Void> whenSentAnswered() {
    Promise<Void> p = Promise.promise();
    sentWaiters.add(p);
    notifySentWaiters();
    return p.future();
  }

  private void notifySentWaiters() {
    if (sent.isEmpty() && !sentWaiters.isEmpty()) {
      List<Promise<Void>> done = new ArrayList<>(sentWaiters);
      sentWaiters.clear();
      done.forEach(Promise::tryComplete);
    }
  }

  private void handBack(Job job) {
    Map<String, Promise<Score>> rest = new LinkedHashMap<>(job.models);
    pending.addFirst(new Job(nextId++, job.bytes, rest));
    pump();
  }

  /** The worker is gone: what it had not answered waits for the next one ({@code retry}), or fails with {@code why}. */
  @Override
  public void sentGone(HttpError why, boolean retry) {
    List<Job> lost = new ArrayList<>(sent.values());
    sent.clear();
    for (Job job : lost) {
      if (retry) {
        handBack(job);
      } else {
        fail(job, why);
      }
    }
    notifySentWaiters();
  }

  /** Fails every job waiting for a worker with {@code why} (no GPU came, the models did not load). */
  @Override
  public void failPending(HttpError why) {
    List<Job> waiting = new ArrayList<>(pending);
    pending.clear();
    waiting.forEach(job -> fail(job, why));
  }

  private void fail(Job job, HttpError why) {
    job.models.forEach((model, p) -> {
      outstanding.merge(model, -1, Integer::sum);
      p.tryFail(why);
    });
    job.models.clear();
  }

  /** @return when the oldest job still without its answers was sent to the worker (nanoTime), or 0 */
  long oldestSentNanos() {
    long oldest = 0;
    for (Job j : sent.values()) {
      if (oldest == 0 || j.sentNanos < oldest) {
        oldest = j.sentNanos;
      }
    }
    return oldest;
  }

  /** @return images (model runs) waiting for a worker or running in one */
  int outstanding() {
    return outstanding.values().stream().mapToInt(Integer::intValue).sum();
  }

  @Override
  public boolean hasPending() {
    return !pending.isEmpty();
  }

  /** @return whether nothing waits or runs */
  @Override
  public boolean idle() {
    return pending.isEmpty() && sent.isEmpty();
  }

  /** @return nanoTime of the last job queued or answered */
  @Override
  public long lastWorkNanos() {
    return lastWorkNanos;
  }
}
