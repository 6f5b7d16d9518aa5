package io.iqa.sidecar.service;

import io.iqa.protocol.config.ConfigNode;
import java.util.Set;

/**
 * The sidecar's {@code batching} block: how images wait for and share a model call.
 *
 * @param maxQueueDelayMs how long an image may wait for others to fill its batch
 * @param queueLimit images a model may have queued or running; past it the next one gets 503 {@code overloaded}
 * @param workers threads that decode (and hash) images; every core unless told otherwise
 */
public record BatchingOptions(long maxQueueDelayMs, int queueLimit, int workers) {

  static final Set<String> KEYS = Set.of("max_queue_delay_ms", "queue_limit", "workers");

  /** Reads the {@code batching} block, every key checked. */
  static BatchingOptions parse(ConfigNode batching) {
    batching.known(KEYS);
    return new BatchingOptions(batching.integer("max_queue_delay_ms", 5, 0, 60_000),
        (int) batching.integer("queue_limit", 256, 1, 1_000_000),
        (int) batching.integer("workers", Runtime.getRuntime().availableProcessors(), 1, 256));
  }
}
