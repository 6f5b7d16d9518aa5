package io.iqa.broker.store.redis;

import io.iqa.protocol.config.ConfigNode;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The broker's {@code store} block for the Redis store ({@code "type": "redis"}).
 *
 * @param keyPrefix the prefix of every key: brokers sharing one Redis and one prefix share one lease state
 * @param poolSize connections to Redis
 * @param commandTimeoutMs how long one call may take before the broker answers 503 {@code store_unavailable}
 */
public record RedisStoreConfig(String url, String keyPrefix, int poolSize, long commandTimeoutMs) {

  public static final String DEFAULT_URL = "redis://127.0.0.1:6379/0";
  static final Set<String> KEYS = Set.of("type", "url", "key_prefix", "pool_size", "command_timeout_ms");

  /** The defaults but for {@code url} and {@code keyPrefix}. */
  public static RedisStoreConfig at(String url, String keyPrefix) {
    return new RedisStoreConfig(url, keyPrefix, 16, 3000);
  }

  /** Reads a {@code store} block whose type is redis, every key checked. */
  public static RedisStoreConfig parse(ConfigNode store) {
    store.known(KEYS);
    RedisStoreConfig d = at(DEFAULT_URL, "gpu-lease:");
    return new RedisStoreConfig(
        store.string("url", d.url, Pattern.compile("(redis|rediss|unix)://.*"), "a redis:// URL"),
        store.string("key_prefix", d.keyPrefix),
        (int) store.integer("pool_size", d.poolSize, 1, 1024),
        store.integer("command_timeout_ms", d.commandTimeoutMs, 100, 600_000));
  }
}
