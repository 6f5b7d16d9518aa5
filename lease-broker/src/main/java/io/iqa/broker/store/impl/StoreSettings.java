package io.iqa.broker.store.impl;

/**
 * The broker settings a store needs to decide on its own.
 *
 * @param staleMaxAgeMs a lease older than this is force-released when another request wants its GPU
 * @param priorityAgingMs a waiter gains one priority level per this much waiting (0: no aging)
 * @param eventsMax how many recent events are kept
 * @param tombstoneTtlMs how long an ended lease's reason is remembered for renew/release answers
 * @param tombstonesMax how many ended leases are remembered at most
 */
public record StoreSettings(long staleMaxAgeMs, long priorityAgingMs, int eventsMax, long tombstoneTtlMs,
    long tombstonesMax) {
}
