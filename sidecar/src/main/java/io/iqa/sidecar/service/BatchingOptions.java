package io.iqa.sidecar.service;

import io.iqa.protocol.config.Range;

/**
 * The sidecar's {@code batching} block: how images wait for and share a model call.
 *
 * @param maxQueueDelayMs how long an image may wait for others to fill its batch
 * @param queueLimit images a model may have queued or running; past it the next one gets 503 {@code overloaded}
 * @param workers threads that decode (and hash) images; every core unless told otherwise
 */
public record BatchingOptions(@Range(min = 0, max = 60_000) long maxQueueDelayMs,
    @Range(min = 1, max = 1_000_000) int queueLimit, @Range(min = 1, max = 256) int workers) {

  static final BatchingOptions DEFAULTS = new BatchingOptions(5, 256, Runtime.getRuntime().availableProcessors());
}
