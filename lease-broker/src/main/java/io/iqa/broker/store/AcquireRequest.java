package io.iqa.broker.store;

import io.iqa.protocol.wire.Priority;

/**
 * A validated lease request (the wire {@code LeaseRequest} checked by the broker), as the store sees it: the broker has checked every field and
 * hashed the holder's token, so the store never sees the token itself.
 *
 * @param gpu device index, or null for any device
 * @param vramMb requested VRAM, or null for the whole device
 * @param pid holder pid on {@code host}, or null
 * @param pidIdentity the holder process's identity ({@code Holders.identity}: boot id and start ticks) when the broker could read it, else null
 * @param waitMs how long the request may wait in the queue; 0 means it is never queued
 * @param yieldable the holder will give the GPU back when asked: a waiter of equal or higher
 *     priority makes the broker ask it ({@code yield_requested} on its watch channel)
 * @param preempt while waiting, ask holders of lower priority to yield even when they did not
 *     offer to
 */
public record AcquireRequest(
    String owner,
    String purpose,
    String tokenHash,
    long ttlMs,
    Integer gpu,
    Integer vramMb,
    Priority priority,
    Long pid,
    String pidIdentity,
    String host,
    long waitMs,
    boolean yieldable,
    boolean preempt) {
}
