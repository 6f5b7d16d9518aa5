package io.iqa.sidecar.service;

import io.iqa.sidecar.model.Score;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisOptions;
import io.vertx.redis.client.Request;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The optional second cache level in Redis ({@code cache.redis_url}), shared by every sidecar
 * pointing at it and surviving restarts. Keys are the local cache's (image SHA-256 + model
 * fingerprint) under {@code iqa:score:}. It is a cache, not a store: when Redis is down every
 * lookup is a miss and every write is skipped, with one WARN per outage.
 */
final class SharedCache {

  private static final Logger LOG = LoggerFactory.getLogger(SharedCache.class);
  private static final String PREFIX = "iqa:score:";

  private final Redis redis;
  /** Its {@code redis_timeout_ms}: a call without an answer this long counts as Redis down (a miss: the model runs). */
  private final CacheOptions options;
  private long hits;
  private boolean down;

  /** @param options with a {@code redis_url} */
  SharedCache(Vertx vertx, CacheOptions options) {
    this.redis = Redis.createClient(vertx, new RedisOptions().setConnectionString(options.redisUrl())
        .setMaxPoolSize(8).setMaxPoolWaiting(1024));
    this.options = options;
  }

  /** @return the score, or null when Redis does not have it (or does not answer) */
  Future<Score> get(String key) {
    return redis.send(Request.cmd(Command.GET).arg(PREFIX + key)).timeout(options.redisTimeoutMs(), TimeUnit.MILLISECONDS).map(resp -> {
      up();
      if (resp == null) {
        return (Score) null;
      }
      JsonObject j = new JsonObject(resp.toString());
      hits++;
      return new Score(j.getDouble("v"), j.getDouble("s"));
    }).recover(e -> {
      down(e);
      return Future.succeededFuture(null);
    });
  }

  void put(String key, Score score) {
    JsonObject j = new JsonObject().put("v", score.value());
    if (score.std() != null) {
      j.put("s", score.std());
    }
    redis.send(Request.cmd(Command.SET).arg(PREFIX + key).arg(j.encode()).arg("EX").arg(options.redisTtlS()))
        .timeout(options.redisTimeoutMs(), TimeUnit.MILLISECONDS)
        .onSuccess(r -> up())
        .onFailure(this::down);
  }

  JsonObject stats() {
    return new JsonObject().put("url", shown()).put("hits", hits).put("ok", !down);
  }

  void close() {
    redis.close();
  }

  private void up() {
    if (down) {
      down = false;
      LOG.info("shared cache at {} is back", shown());
    }
  }

  private void down(Throwable e) {
    if (!down) {
      down = true;
      LOG.warn("shared cache at {} unavailable ({}); scoring without it until it is back", shown(), e.getMessage());
    }
  }

  /** @return the URL without its password: for the status and the log */
  private String shown() {
    return options.redisUrl().replaceAll("//[^@/]*@", "//***@");
  }
}
