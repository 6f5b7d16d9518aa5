package io.iqa.broker.store;

/**
 * How much time a lease read back from the memory store's state file still has. No clock reading
 * survives a restart in a usable form: the monotonic clock starts anew, and the wall clock may
 * have stepped. {@link #FULL_TTL} is etcd's rule (its lessor's {@code Promote}): every restored
 * lease gets its whole ttl from the restarted broker's now, so a live holder is never cut short by
 * a clock step and a dead holder's lease lives at most one more ttl.
 */
@FunctionalInterface
public interface RestoreRule {

  /**
   * @param ttlMs the lease's ttl
   * @param writtenExpiresWallMs its expiry by the wall clock of the broker that wrote the file, or null
   * @param wallNowMs the wall clock now
   * @return ms from now until the restored lease expires
   */
  long remainingMs(long ttlMs, Long writtenExpiresWallMs, long wallNowMs);

  RestoreRule FULL_TTL = (ttlMs, writtenExpiresWallMs, wallNowMs) -> ttlMs;
}
