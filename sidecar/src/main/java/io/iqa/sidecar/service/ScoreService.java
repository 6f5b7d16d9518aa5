package io.iqa.sidecar.service;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.iqa.server.HttpError;
import io.iqa.sidecar.image.ImageDecoder;
import io.iqa.sidecar.model.ImageInput;
import io.iqa.sidecar.model.ImageModel;
import io.iqa.sidecar.model.ImageScorer;
import io.iqa.sidecar.model.ModelRegistry;
import io.iqa.sidecar.model.Score;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.WorkerExecutor;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One /infer: hash the bytes, answer every model from the cache where it can, and for the rest
 * decode once and queue the image on each model's {@link Batcher}. The cache key is the image's
 * SHA-256 plus the model's fingerprint. A score being computed sits in an in-flight map that
 * later requests join, so concurrent requests for the same new image run each model once; only
 * successful scores enter the cache. Runs on the verticle's event loop (which is what makes the
 * plain in-flight map safe); hashing and decoding go to a worker pool.
 */
final class ScoreService {

  private final ModelRegistry registry;
  private final ImageDecoder decoder;
  private final WorkerExecutor decodePool;
  private final Map<String, Batcher> batchers = new HashMap<>();
  private final Cache<String, Score> cache;
  private final Map<String, Future<Score>> inFlight = new HashMap<>();
  private final SharedCache shared;
  private final SidecarMetrics metrics;
  private final long maxEntries;

  ScoreService(Vertx vertx, ModelRegistry registry, ImageDecoder decoder, WorkerExecutor decodePool,
      WorkerExecutor inferPool, SidecarOptions options, SidecarMetrics metrics) {
    this.registry = registry;
    this.decoder = decoder;
    this.decodePool = decodePool;
    this.metrics = metrics;
    this.maxEntries = options.cacheMaxEntries();
    this.cache = Caffeine.newBuilder().maximumSize(maxEntries).executor(Runnable::run).build();
    String redisUrl = options.sharedCacheUrl();
    this.shared = redisUrl == null ? null : new SharedCache(vertx, redisUrl, options.sharedCacheTtlS());
    for (ImageModel m : registry.models()) {
      batchers.put(m.name(), new Batcher(vertx, m, registry.maxBatch(), options.maxQueueDelayMs(), options.queueLimit(),
          inferPool, metrics));
    }
  }

  /** @throws HttpError 400 when a requested model is not loaded */
  List<ImageModel> select(List<String> names) {
    try {
      return registry.select(names);
    } catch (io.iqa.sidecar.model.ModelConfigException e) {
      throw new HttpError(400, "bad_request", e.getMessage());
    }
  }

  /** @param sha256 the bytes' hash when the caller computed it while reading, else null */
  Future<JsonObject> infer(byte[] bytes, String sha256, List<ImageModel> models) {
    long t0 = System.nanoTime();
    Future<String> hashed = sha256 != null ? Future.succeededFuture(sha256)
        : decodePool.executeBlocking(() -> ImageScorer.sha256(bytes), false);
    return hashed.compose(sha -> {
      Request request = new Request(bytes);
      List<Future<Score>> scores = new ArrayList<>(models.size());
      boolean allCached = true;
      for (ImageModel m : models) {
        String key = sha + "|" + registry.fingerprint(m.name());
        Score known = cache.getIfPresent(key);
        if (known != null) {
          metrics.hit();
          scores.add(Future.succeededFuture(known));
          continue;
        }
        allCached = false;
        Future<Score> running = inFlight.get(key);
        if (running != null) {
          metrics.hit();
          scores.add(running);
          continue;
        }
        Batcher batcher = batchers.get(m.name());
        // The slot is in the map before the computation starts: a computation that fails at once
        // (a full queue) must still leave the map, and never be found there by a later request.
        Promise<Score> slot = Promise.promise();
        inFlight.put(key, slot.future());
        (shared == null ? Future.<Score>succeededFuture(null) : shared.get(key))
            .compose(found -> {
              if (found != null) {
                metrics.hit();
                return Future.succeededFuture(found);
              }
              metrics.miss();
              request.ranModel = true;
              return batcher.submit(request.input).andThen(ar -> {
                if (ar.succeeded() && shared != null) {
                  shared.put(key, ar.result());
                }
              });
            })
            .onComplete(ar -> {
              inFlight.remove(key);
              if (ar.succeeded()) {
                cache.put(key, ar.result());
              }
              slot.handle(ar);
            });
        scores.add(slot.future());
      }
      boolean local = allCached;
      return Future.all(scores).map(done -> answer(sha, models, scores, local || !request.ranModel, request, t0));
    });
  }

  private JsonObject answer(String sha, List<ImageModel> models, List<Future<Score>> scores, boolean cached,
      Request request, long t0) {
    JsonObject values = new JsonObject();
    JsonObject std = new JsonObject();
    Set<String> devices = new LinkedHashSet<>();
    for (int i = 0; i < models.size(); i++) {
      Score s = scores.get(i).result();
      values.put(models.get(i).name(), s.value());
      if (s.std() != null) {
        std.put(models.get(i).name(), s.std());
      }
      devices.add(models.get(i).device());
    }
    JsonObject timings = new JsonObject().put("total", ms(System.nanoTime() - t0));
    JsonObject answer = new JsonObject().put("sha256", sha).put("scores", values);
    if (!std.isEmpty()) {
      answer.put("std", std);
    }
    return answer.put("cached", cached).put("device", String.join("+", devices)).put("timings_ms", timings);
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
    return batchers.values().stream().mapToInt(Batcher::outstanding).sum();
  }

  /** Starts no more model calls: waiting images fail with {@code why}; running calls finish. */
  void stopModelCalls(HttpError why) {
    batchers.values().forEach(b -> b.stop(why));
  }

  /** @return model calls running now */
  int runningModelCalls() {
    return batchers.values().stream().mapToInt(Batcher::running).sum();
  }

  private static double ms(long nanos) {
    return Math.round(nanos / 10_000.0) / 100.0;
  }

  /** One request's image: decoded at most once, by the first model batch that needs it. */
  private final class Request {
    final ImageInput input;
    boolean ranModel;

    Request(byte[] bytes) {
      this.input = ImageInput.lazy(bytes, decoder);
    }
  }
}
