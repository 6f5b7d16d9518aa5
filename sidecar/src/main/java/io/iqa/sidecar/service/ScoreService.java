package io.iqa.sidecar.service;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.iqa.protocol.Sha256;
import io.iqa.protocol.Text;
import io.iqa.protocol.wire.ScoreAnswer;
import io.iqa.server.HttpError;
import io.iqa.sidecar.model.Score;
import io.iqa.sidecar.worker.ModelInfo;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.WorkerExecutor;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One /infer on the front: answer every model from the cache where it can, and queue the rest
 * ({@link WorkQueue}) for the GPU worker, which decodes the image once and batches it per model.
 * The cache key is the image's SHA-256 plus the model's fingerprint, as the last worker reported
 * it: the cache lives in the front, so it survives the worker's restarts, and a hit needs neither
 * the worker nor the GPU. A score being computed sits in an in-flight map that later requests
 * join, so concurrent requests for the same new image run each model once; only successful scores
 * enter the cache. Runs on the front's event loop (which is what makes the plain maps safe).
 */
final class ScoreService {

  private final Lifecycle lifecycle;
  private final WorkerExecutor hashPool;
  private final Cache<String, Score> cache;
  private final Map<String, Future<Score>> inFlight = new HashMap<>();
  private final SharedCache shared;
  private final SidecarMetrics metrics;
  private final long maxEntries;

  ScoreService(Vertx vertx, Lifecycle lifecycle, WorkerExecutor hashPool, SidecarOptions options,
      SidecarMetrics metrics) {
    this.lifecycle = lifecycle;
    this.hashPool = hashPool;
    this.metrics = metrics;
    this.maxEntries = options.cache().maxEntries();
    this.cache = Caffeine.newBuilder().maximumSize(maxEntries).executor(Runnable::run).build();
    this.shared = options.cache().redisUrl() == null ? null : new SharedCache(vertx, options.cache());
  }

  /** @return the named models (all for none), in order. @throws HttpError 400 naming an unknown model */
  List<String> select(List<String> names) {
    Set<String> known = lifecycle.models().keySet();
    if (names.isEmpty()) {
      return List.copyOf(known);
    }
    for (String n : names) {
      if (!known.contains(n)) {
        throw HttpError.badRequest("unknown model '" + Text.printable(n, 64) + "'; loaded: " + known);
      }
    }
    return names;
  }

  /**
   * @param sha256 the bytes' hash when the caller computed it while reading, else null
   * @param warmup the front's own warm-up: straight to the worker, past the cache and the metrics
   */
  Future<JsonObject> infer(byte[] bytes, String sha256, List<String> models, boolean warmup) {
    long t0 = System.nanoTime();
    Future<String> hashed = sha256 != null ? Future.succeededFuture(sha256)
        : hashPool.executeBlocking(() -> {
          long h0 = System.nanoTime();
          String hex = Sha256.hex(bytes);
          metrics.stage("hash", System.nanoTime() - h0);
          return hex;
        }, false);
    if (warmup) {
      return hashed.compose(sha -> {
        Map<String, Future<Score>> scores = new LinkedHashMap<>(lifecycle.queue.submit(bytes, models));
        return Future.all(new ArrayList<>(scores.values())).map(done -> answer(sha, scores, false, t0));
      });
    }
    return hashed.compose(sha -> {
      Map<String, Future<Score>> scores = new LinkedHashMap<>();
      List<String> toCompute = new ArrayList<>();
      Map<String, Promise<Score>> slots = new HashMap<>();
      for (String m : models) {
        ModelInfo info = lifecycle.models().get(m);
        // Before any worker reported the model's fingerprint nothing of it can be cached yet.
        String key = info == null ? null : sha + "|" + info.fingerprint();
        Score known = key == null ? null : cache.getIfPresent(key);
        if (known != null) {
          metrics.hit();
          scores.put(m, Future.succeededFuture(known));
          continue;
        }
        Future<Score> running = key == null ? null : inFlight.get(key);
        if (running != null) {
          metrics.hit();
          scores.put(m, running);
          continue;
        }
        // The slot is in the map before the computation starts: a computation that fails at once
        // (a full queue) must still leave the map, and never be found there by a later request.
        Promise<Score> slot = Promise.promise();
        if (key != null) {
          inFlight.put(key, slot.future());
        }
        slots.put(m, slot);
        scores.put(m, slot.future());
        toCompute.add(m);
      }
      boolean[] ranModel = new boolean[1];
      compute(bytes, sha, toCompute, slots, ranModel);
      return Future.all(new ArrayList<>(scores.values())).map(done -> answer(sha, scores, !ranModel[0], t0));
    });
  }

  /**
   * Looks in the shared cache, then queues what is still missing for the worker; fills {@code slots}
   * and sets {@code ranModel[0]} when a model had to run.
   */
  private void compute(byte[] bytes, String sha, List<String> names, Map<String, Promise<Score>> slots,
      boolean[] ranModel) {
    if (names.isEmpty()) {
      return;
    }
    Map<String, String> keys = new HashMap<>();
    names.forEach(m -> keys.put(m, lifecycle.models().get(m) == null ? null
        : sha + "|" + lifecycle.models().get(m).fingerprint()));
    List<Future<Score>> fromShared = new ArrayList<>();
    for (String m : names) {
      fromShared.add(shared == null || keys.get(m) == null ? Future.succeededFuture(null) : shared.get(keys.get(m)));
    }
    Future.join(fromShared).onComplete(ignored -> {
      List<String> missing = new ArrayList<>();
      for (int i = 0; i < names.size(); i++) {
        Score found = fromShared.get(i).succeeded() ? fromShared.get(i).result() : null;
        if (found != null) {
          metrics.hit();
          settle(keys.get(names.get(i)), slots.get(names.get(i)), Future.succeededFuture(found));
        } else {
          metrics.miss();
          missing.add(names.get(i));
        }
      }
      ranModel[0] = !missing.isEmpty();
      lifecycle.queue.submit(bytes, missing).forEach((m, f) -> f.onComplete(ar -> {
        // The worker that answered reported the fingerprint before its first score.
        String key = keys.get(m) != null ? keys.get(m)
            : lifecycle.models().get(m) == null ? null : sha + "|" + lifecycle.models().get(m).fingerprint();
        if (ar.succeeded()) {
          metrics.scored(m);
          if (shared != null && key != null) {
            shared.put(key, ar.result());
          }
        }
        settle(key, slots.get(m), ar.succeeded() ? Future.succeededFuture(ar.result()) : Future.failedFuture(ar.cause()));
      }));
    });
  }

  private void settle(String key, Promise<Score> slot, Future<Score> outcome) {
    if (key != null) {
      inFlight.remove(key);
      if (outcome.succeeded()) {
        cache.put(key, outcome.result());
      }
    }
    slot.handle(outcome);
  }

  private JsonObject answer(String sha, Map<String, Future<Score>> scores, boolean cached, long t0) {
    ScoreAnswer.Builder answer = new ScoreAnswer.Builder(sha);
    Set<String> devices = new LinkedHashSet<>();
    scores.forEach((name, f) -> {
      answer.score(name, f.result().value(), f.result().std());
      ModelInfo info = lifecycle.models().get(name);
      devices.add(info == null ? "unknown" : info.device());
    });
    return new JsonObject(answer.cached(cached).ran(String.join("+", devices), null, null)
        .timing("total", ms(System.nanoTime() - t0)).build().toMap());
  }


  JsonObject cacheStats() {
    JsonObject stats = new JsonObject()
        .put("entries", cache.estimatedSize())
        .put("max_entries", maxEntries)
        .put("hits", metrics.hitCount.get())
        .put("misses", metrics.missCount.get());
    if (shared != null) {
      stats.put("shared", shared.stats());
    }
    return stats;
  }

  void close() {
    if (shared != null) {
      shared.close();
    }
  }

  int queued() {
    return lifecycle.queue.outstanding();
  }

  private static double ms(long nanos) {
    return Math.round(nanos / 10_000.0) / 100.0;
  }
}
