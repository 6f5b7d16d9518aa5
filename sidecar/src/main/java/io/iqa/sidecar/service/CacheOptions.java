package io.iqa.sidecar.service;

import io.iqa.protocol.config.Matches;
import io.iqa.protocol.config.Range;

/**
 * The sidecar's {@code cache} block: the score cache in memory and the optional shared one in Redis.
 *
 * @param maxEntries scores kept in memory (0: none)
 * @param redisUrl the shared cache ({@code redis_url}), or null for none
 * @param redisTtlS how long the shared cache keeps a score
 * @param redisTimeoutMs a shared-cache call without an answer this long is a miss (the model runs)
 */
public record CacheOptions(@Range(min = 0, max = 1L << 31) long maxEntries,
    @Matches(value = Matches.REDIS_URL, what = Matches.REDIS_URL_RULE) String redisUrl,
    @Range(min = 1, max = 10L * 365 * 24 * 3600) long redisTtlS, @Range(min = 10, max = 60_000) long redisTimeoutMs) {

  static final CacheOptions DEFAULTS = new CacheOptions(100_000, null, 30L * 24 * 3600, 500);
}
