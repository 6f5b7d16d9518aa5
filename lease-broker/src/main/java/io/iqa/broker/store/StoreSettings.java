package io.iqa.broker.store;

import java.nio.file.Path;

/**
 * The broker settings a store needs to decide on its own.
 *
 * @param staleMaxAgeMs a lease older than this is revoked as stale when another request wants its GPU
 * @param priorityAgingMs a waiter gains one priority level per this much waiting (0: no aging)
 * @param eventsMax how many recent events are kept
 * @param tombstoneTtlMs how long an ended lease's reason is remembered for renew/release answers
 * @param tombstonesMax how many ended leases are remembered at most
 * @param recoveryGraceMs how long a store that starts without its lease state grants nothing, so that
 *     every lease granted before (by a broker whose state is gone) has run out: {@code max_ttl_s}
 * @param fresh the operator says no lease from an earlier run can be alive: no recovery period
 * @param stateFile the memory store's state file, or null for none
 * @param stateFsync fsync the state file after every change (survives power loss, costs throughput)
 */
public record StoreSettings(long staleMaxAgeMs, long priorityAgingMs, int eventsMax, long tombstoneTtlMs,
    long tombstonesMax, long recoveryGraceMs, boolean fresh, Path stateFile, boolean stateFsync) {
}
