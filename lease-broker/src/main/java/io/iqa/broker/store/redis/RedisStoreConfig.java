package io.iqa.broker.store.redis;

import io.iqa.protocol.config.Matches;
import io.iqa.protocol.config.Range;
import io.iqa.protocol.wire.WireEnum;

/**
 * The broker's {@code store} block; every key but {@code type} is the Redis store's.
 *
 * @param keyPrefix the prefix of every key: brokers sharing one Redis and one prefix share one lease state
 * @param poolSize connections to Redis
 * @param commandTimeoutMs how long one call may take before the broker answers 503 {@code store_unavailable}
 */
public record RedisStoreConfig(Type type,
    @Matches(value = Matches.REDIS_URL, what = Matches.REDIS_URL_RULE) String url, String keyPrefix,
    @Range(min = 1, max = 1024) int poolSize, @Range(min = 100, max = 600_000) long commandTimeoutMs) {

  /** Where the lease state is kept: this process's memory (and its state file), or Redis. */
  public enum Type implements WireEnum { MEMORY, REDIS }

  public static final String DEFAULT_URL = "redis://127.0.0.1:6379/0";
  /** The memory store, and the Redis store's defaults should the type be redis. */
  public static final RedisStoreConfig DEFAULTS = new RedisStoreConfig(Type.MEMORY, DEFAULT_URL, "gpu-lease:", 16, 3000);

  /** The Redis store with the defaults but for {@code url} and {@code keyPrefix}. */
  public static RedisStoreConfig at(String url, String keyPrefix) {
    return new RedisStoreConfig(Type.REDIS, url, keyPrefix, DEFAULTS.poolSize, DEFAULTS.commandTimeoutMs);
  }
}
