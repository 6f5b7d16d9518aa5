package io.iqa.sidecar.service;

import com.github.benmanes.caffeine.cache.AsyncCache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.iqa.sidecar.image.ImageDecoder;
import io.iqa.sidecar.model.ImageInput;
import io.iqa.sidecar.model.ImageModel;
import io.iqa.sidecar.model.ImageScorer;
import io.iqa.sidecar.model.ModelRegistry;
import io.iqa.sidecar.model.Score;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.WorkerExecutor;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * One /infer: hash the bytes, answer every model from the cache where it can, and for the rest
 * decode once and queue the image on each model's {@link Batcher}. The cache key is the image's
 * SHA-256 plus the model's fingerprint; while a score is being computed its future sits in the
 * cache, so concurrent requests for the same new image run each model once. Failures are not
 * cached. Runs on the verticle's event loop; hashing and decoding go to a worker pool.
 */
final class ScoreService {

  private final Vertx vertx;
  private final Context context;
  private final ModelRegistry registry;
  private final ImageDecoder decoder;
  private final WorkerExecutor decodePool;
  private final Map<String, Batcher> batchers = new HashMap<>();
  private final AsyncCache<String, Score> cache;
  private final SidecarMetrics metrics;
  private final long maxEntries;

  ScoreService(Vertx vertx, Context context, ModelRegistry registry, ImageDecoder decoder, WorkerExecutor decodePool,
      WorkerExecutor inferPool, SidecarOptions options, SidecarMetrics metrics) {
    this.vertx = vertx;
    this.context = context;
    this.registry = registry;
    this.decoder = decoder;
    this.decodePool = decodePool;
    this.metrics = metrics;
    this.maxEntries = options.cacheMaxEntries();
    this.cache = Caffeine.newBuilder().maximumSize(maxEntries).executor(Runnable::run).buildAsync();
    for (ImageModel m : registry.models()) {
      batchers.put(m.name(), new Batcher(vertx, m, registry.maxBatch(), options.maxQueueDelayMs(), options.queueLimit(),
          inferPool, metrics));
    }
  }

  /** @throws ServiceException 400 when a requested model is not loaded */
  List<ImageModel> select(List<String> names) {
    if (names == null || names.isEmpty()) {
      return registry.models();
    }
    List<ImageModel> chosen = new ArrayList<>();
    for (String n : names) {
      ImageModel m = registry.get(n);
      if (m == null) {
        throw new ServiceException(400, "bad_request", "unknown model '" + n + "'; loaded: "
            + registry.models().stream().map(ImageModel::name).toList());
      }
      chosen.add(m);
    }
    return chosen;
  }

  Future<JsonObject> infer(byte[] bytes, List<ImageModel> models) {
    long t0 = System.nanoTime();
    return decodePool.executeBlocking(() -> ImageScorer.sha256(bytes), false).compose(sha -> {
      Request request = new Request(bytes);
      List<Future<Score>> scores = new ArrayList<>(models.size());
      boolean allCached = true;
      for (ImageModel m : models) {
        String key = sha + "|" + registry.fingerprint(m.name());
        CompletableFuture<Score> known = cache.getIfPresent(key);
        if (known != null) {
          metrics.hit();
          allCached &= known.isDone();
          scores.add(Future.fromCompletionStage(known, context));
          continue;
        }
        allCached = false;
        CompletableFuture<Score> computed = cache.get(key, (k, executor) -> {
          metrics.miss();
          return request.decoded().compose(input -> batchers.get(m.name()).submit(input))
              .toCompletionStage().toCompletableFuture();
        });
        scores.add(Future.fromCompletionStage(computed, context));
      }
      boolean cached = allCached;
      return Future.all(scores).map(done -> answer(sha, models, scores, cached, request, t0));
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
    if (request.decodeNanos > 0) {
      timings.put("decode", ms(request.decodeNanos));
    }
    JsonObject answer = new JsonObject().put("sha256", sha).put("scores", values);
    if (!std.isEmpty()) {
      answer.put("std", std);
    }
    return answer.put("cached", cached).put("device", String.join("+", devices)).put("timings_ms", timings);
  }

  JsonObject cacheStats() {
    return new JsonObject()
        .put("entries", cache.synchronous().estimatedSize())
        .put("max_entries", maxEntries)
        .put("hits", metrics.hitCount.get())
        .put("misses", metrics.missCount.get());
  }

  int queued() {
    return batchers.values().stream().mapToInt(Batcher::outstanding).sum();
  }

  private static double ms(long nanos) {
    return Math.round(nanos / 10_000.0) / 100.0;
  }

  /** Decodes its image at most once, and only if some model needs it. */
  private final class Request {
    private final byte[] bytes;
    private Future<ImageInput> decoded;
    long decodeNanos;

    Request(byte[] bytes) {
      this.bytes = bytes;
    }

    Future<ImageInput> decoded() {
      if (decoded == null) {
        long t0 = System.nanoTime();
        decoded = decodePool.executeBlocking(() -> new ImageInput(decoder.decode(bytes).rgb(), bytes), false)
            .onComplete(ar -> decodeNanos = System.nanoTime() - t0);
      }
      return decoded;
    }
  }
}
