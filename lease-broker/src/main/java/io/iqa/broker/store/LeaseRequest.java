package io.iqa.broker.store;

/**
 * A validated request for a lease, as the store sees it: the broker has checked every field and
 * hashed the holder's token, so the store never sees the token itself.
 *
 * @param gpu device index, or null for any device
 * @param vramMb requested VRAM, or null for the whole device
 * @param pid holder pid on {@code host}, or null
 * @param pidStartMs the holder process's start time (epoch ms) when the broker could read it, else null
 * @param waitMs how long the request may wait in the queue; 0 means it is never queued
 */
public record LeaseRequest(
    String owner,
    String purpose,
    String tokenHash,
    long ttlMs,
    Integer gpu,
    Integer vramMb,
    Priority priority,
    Long pid,
    Long pidStartMs,
    String host,
    long waitMs) {
}
