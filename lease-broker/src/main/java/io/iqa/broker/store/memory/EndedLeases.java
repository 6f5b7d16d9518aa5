package io.iqa.broker.store.memory;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.iqa.protocol.wire.EndReason;
import io.iqa.broker.store.StoreException;
import io.iqa.broker.store.StoreSettings;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Collection;

/**
 * The leases that ended recently, so a late renew or release hears why its lease ended rather than
 * "unknown": by token hash for {@code tombstone_ttl_s}, and the last {@link LeaseJournal#ENDED_KEPT}
 * as the state file's snapshot keeps them (so this holds after a restart too).
 */
final class EndedLeases {

  private final Cache<String, Tombstone> byToken;
  /** The leases that ended last, oldest first. */
  private final ArrayDeque<LeaseJournal.Ended> last = new ArrayDeque<>();

  private record Tombstone(long leaseId, EndReason reason) {
  }

  EndedLeases(StoreSettings settings) {
    this.byToken = Caffeine.newBuilder()
        // Eviction bookkeeping on the caller's thread: no hop to the common pool on every release.
        .executor(Runnable::run)
        .maximumSize(settings.tombstonesMax())
        .expireAfterWrite(Duration.ofMillis(settings.tombstoneTtlMs()))
        .build();
  }

  void remember(LeaseJournal.Ended e) {
    byToken.put(e.tokenHash(), new Tombstone(e.id(), e.reason()));
    last.addLast(e);
    if (last.size() > LeaseJournal.ENDED_KEPT) {
      last.removeFirst();
    }
  }

  /** @return the leases that ended last, oldest first */
  Collection<LeaseJournal.Ended> last() {
    return last;
  }

  /** @return why a renew or release of {@code tokenHash} fails: its lease ended (and why), or it is unknown */
  StoreException lostOrUnknown(String tokenHash) {
    Tombstone tomb = byToken.getIfPresent(tokenHash);
    if (tomb == null) {
      return new StoreException(StoreException.Kind.UNKNOWN_LEASE, "no lease is known for this token");
    }
    return StoreException.leaseLost(tomb.reason, tomb.leaseId);
  }
}
