package io.iqa.broker.store;

/**
 * Which leases a force-release ends: one {@code leaseId}, or every lease of {@code owner} (optionally
 * only those older than {@code olderThanMs}).
 *
 * @param allowedOwners when not null, the caller may only end leases of these owners (a client token)
 * @param by who asks, recorded in the event
 * @param reason why, recorded in the event
 * @param immediate hand the GPU on at once instead of waiting for the holder's confirmation or its
 *     expires_at (an admin's choice for a hung holder)
 */
public record ForceReleaseSelector(
    Long leaseId, String owner, Long olderThanMs, java.util.Set<String> allowedOwners, String by, String reason,
    boolean immediate) {
}
