package io.iqa.sidecar.service;

import io.iqa.protocol.config.ConfigNode;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The sidecar's {@code cache} block: the score cache in memory and the optional shared one in Redis.
 *
 * @param maxEntries scores kept in memory (0: none)
 * @param redisUrl the shared cache ({@code redis_url}), or null for none
 * @param redisTtlS how long the shared cache keeps a score
 * @param redisTimeoutMs a shared-cache call without an answer this long is a miss (the model runs)
 */
public record CacheOptions(long maxEntries, String redisUrl, long redisTtlS, long redisTimeoutMs) {

  static final Set<String> KEYS = Set.of("max_entries", "redis_url", "redis_ttl_s", "redis_timeout_ms");

  /** Reads the {@code cache} block, every key checked. */
  static CacheOptions parse(ConfigNode cache) {
    cache.known(KEYS);
    return new CacheOptions(cache.integer("max_entries", 100_000, 0, 1L << 31),
        cache.string("redis_url", null, Pattern.compile("(redis|rediss|unix)://.*"), "a redis:// URL"),
        cache.integer("redis_ttl_s", 30L * 24 * 3600, 1, 10L * 365 * 24 * 3600),
        cache.integer("redis_timeout_ms", 500, 10, 60_000));
  }
}
