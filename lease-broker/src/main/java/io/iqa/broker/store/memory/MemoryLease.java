package io.iqa.broker.store.memory;

import io.iqa.protocol.wire.EndReason;
import io.iqa.broker.store.Lease;
import io.iqa.broker.store.AcquireRequest;
import io.iqa.broker.store.RestoreRule;
import io.iqa.protocol.wire.Priority;
import java.time.Instant;
import java.util.function.LongFunction;

/** One lease as the memory store keeps it; times are on the store's monotonic clock (ms). */
final class MemoryLease {
  final long leaseId;
  final String tokenHash;
  final int gpu;
  final String owner;
  final String purpose;
  final int vramMb;
  final boolean exclusive;
  final Priority priority;
  final Long pid;
  final String pidIdentity;
  final String host;
  final long grantedMono;
  long ttlMs;
  long expiresMono;
  /** Why it is being taken back (revoking), or null while simply held. */
  EndReason revoked;
  long revokedMono;
  final boolean yieldable;
  /** When the broker asked the holder to yield (0: never). */
  long yieldRequestedMono;

  MemoryLease(long leaseId, String tokenHash, int gpu, String owner, String purpose, int vramMb, boolean exclusive,
      Priority priority, Long pid, String pidIdentity, String host, long grantedMono, long ttlMs, long expiresMono,
      boolean yieldable) {
    this.leaseId = leaseId;
    this.tokenHash = tokenHash;
    this.gpu = gpu;
    this.owner = owner;
    this.purpose = purpose;
    this.vramMb = vramMb;
    this.exclusive = exclusive;
    this.priority = priority;
    this.pid = pid;
    this.pidIdentity = pidIdentity;
    this.host = host;
    this.grantedMono = grantedMono;
    this.ttlMs = ttlMs;
    this.expiresMono = expiresMono;
    this.yieldable = yieldable;
  }

  static MemoryLease granted(long leaseId, AcquireRequest r, int gpu, int vramMb, boolean exclusive, long now) {
    return new MemoryLease(leaseId, r.tokenHash(), gpu, r.owner(), r.purpose(), vramMb, exclusive, r.priority(),
        r.pid(), r.pidIdentity(), r.host(), now, r.ttlMs(), now + r.ttlMs(), r.yieldable());
  }

  /**
   * A lease read back from the state file, on this store's clock: its age as last written (the time
   * the broker was down is not counted: a younger lease turns stale later, never sooner) and the
   * expiry {@code rule} gives it.
   */
  static MemoryLease restored(LeaseRecord r, long now, long wallNow, RestoreRule rule) {
    long granted = now - r.ageMs();
    MemoryLease l = new MemoryLease(r.id(), r.tokenHash(), r.gpu(), r.owner(), r.purpose(), r.vramMb(), r.exclusive(),
        r.priority(), r.pid(), r.pidIdentity(), r.host(), granted, r.ttlMs(),
        now + rule.remainingMs(r.ttlMs(), r.expiresWallMs(), wallNow), r.yieldable());
    if (r.revoked() != null) {
      l.revoked = r.revoked();
      l.revokedMono = granted + Math.min(r.revokedAgeMs(), r.ageMs());
    }
    return l;
  }

  /** @return this lease as the state file keeps it, {@code now} on this store's clock */
  LeaseRecord record(long now, long expiresWallMs) {
    return new LeaseRecord(leaseId, tokenHash, gpu, owner, purpose, vramMb, exclusive, priority, pid,
        pidIdentity, host, ttlMs, now - grantedMono, expiresWallMs, yieldable, revoked,
        revoked == null ? 0 : revokedMono - grantedMono);
  }

  Lease view(long now, LongFunction<Instant> wall) {
    return new Lease(leaseId, tokenHash, gpu, owner, purpose, vramMb, exclusive, priority, pid, pidIdentity, host,
        wall.apply(grantedMono), wall.apply(expiresMono), ttlMs, now - grantedMono, expiresMono - now, revoked,
        revoked == null ? null : wall.apply(revokedMono), yieldable,
        yieldRequestedMono == 0 ? null : wall.apply(yieldRequestedMono));
  }
}
