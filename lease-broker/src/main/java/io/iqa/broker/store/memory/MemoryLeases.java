package io.iqa.broker.store.memory;

import io.iqa.broker.store.AcquireResult;
import io.iqa.protocol.wire.EndReason;
import io.iqa.broker.store.Lease;
import io.iqa.broker.store.LeaseEvent;
import io.iqa.broker.store.LeaseEventType;
import io.iqa.broker.store.AcquireRequest;
import io.iqa.broker.store.StoreClock;
import io.iqa.broker.store.StoreException;
import io.iqa.broker.store.StoreSettings;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The memory store's leases: the ones held now (by token, by id, on their devices), the recently
 * ended ones (so a late renew or release hears why), the event log, and the state file. Every
 * change to a lease goes through here: grant, renewal, revocation (stale, yield requests), expiry,
 * end; each writes its journal line and its event. Called only inside a step of
 * {@link MemoryLeaseStore}, holding its lock; times are on the store's monotonic clock.
 */
final class MemoryLeases {

  private final StoreSettings settings;
  private final StoreClock clock;
  private final long monoBaseMs;
  private final long wallBaseMs;
  private final MemoryCapacity capacity;
  private final MemoryWaitQueue queue;
  private final Map<String, MemoryLease> byToken = new HashMap<>();
  private final Map<Long, MemoryLease> byId = new TreeMap<>();
  final MemoryEventLog log;
  final EndedLeases ended;
  LeaseJournal journal;
  long nextLeaseId = 1;
  /** While the store grants nothing after a start without its lease state, the end of that grace; else 0. */
  long recoveringUntil;

  MemoryLeases(StoreSettings settings, StoreClock clock, MemoryCapacity capacity, MemoryWaitQueue queue) {
    this.settings = settings;
    this.clock = clock;
    this.monoBaseMs = clock.monotonicMs();
    this.wallBaseMs = clock.wallMs();
    this.capacity = capacity;
    this.queue = queue;
    this.log = new MemoryEventLog(settings.eventsMax());
    this.ended = new EndedLeases(settings);
  }

  MemoryLease byToken(String tokenHash) {
    return byToken.get(tokenHash);
  }

  MemoryLease byId(long leaseId) {
    return byId.get(leaseId);
  }

  /** @return every lease held now, by lease_id */
  Collection<MemoryLease> all() {
    return byId.values();
  }

  /** @return every lease held now as the API shows it, by device, then lease_id */
  List<Lease> views(long now) {
    List<Lease> list = new ArrayList<>();
    byId.values().forEach(l -> list.add(l.view(now, this::wall)));
    list.sort(Comparator.comparingInt(Lease::gpu).thenComparingLong(Lease::leaseId));
    return list;
  }

  /** Extends a live lease by its ttl (or {@code ttlMs}, which becomes its ttl) from now. */
  Lease renew(String tokenHash, Long ttlMs, String by, long now, Outbox out) {
    MemoryLease l = live(tokenHash, now, out);
    long ttl = ttlMs != null ? ttlMs : l.ttlMs;
    long expires = now + ttl;
    // On disk first: a renew the file does not keep changes nothing.
    if (journal != null) {
      journal.renew(l.leaseId, ttl, now - l.grantedMono, wallMs(expires));
    }
    l.ttlMs = ttl;
    l.expiresMono = expires;
    out.events.add(event(LeaseEventType.RENEWED, l, by != null ? by : l.owner, null, null));
    compactIfDue(now);
    return l.view(now, this::wall);
  }

  /** @return an event about a GPU, not a lease (lease_id 0), recorded in the log */
  LeaseEvent note(LeaseEventType type, int gpu, String subject, String detail) {
    return log.add(wall(monoMs()), type, 0, gpu, subject, "", "broker", detail, null, null);
  }

  /**
   * @return the refusal: the holders of the devices the request could use, and when one of them will
   *     expire, turn stale, or recovery ends (the earliest time a retry could succeed)
   */
  AcquireResult.Busy busy(AcquireRequest request, int position, long now) {
    List<Lease> holders = new ArrayList<>();
    long retryAt = Long.MAX_VALUE;
    for (int gpu : capacity.candidates(request)) {
      for (MemoryLease l : capacity.on(gpu)) {
        holders.add(l.view(now, this::wall));
        retryAt = Math.min(retryAt, l.expiresMono);
        long staleAt = l.grantedMono + settings.staleMaxAgeMs();
        if (l.revoked == null && staleAt > now) {
          retryAt = Math.min(retryAt, staleAt);
        }
      }
    }
    boolean recovering = now < recoveringUntil;
    if (recovering) {
      retryAt = recoveringUntil;
    }
    return new AcquireResult.Busy(holders, position == Integer.MAX_VALUE ? 1 : position,
        retryAt == Long.MAX_VALUE ? -1 : Math.max(1, retryAt - now), recovering ? wall(recoveringUntil) : null);
  }
  /** The live lease behind a token that may still be renewed; throws LEASE_LOST or UNKNOWN_LEASE. */
  MemoryLease live(String tokenHash, long now, Outbox out) {
    MemoryLease l = byToken.get(tokenHash);
    if (l == null) {
      throw ended.lostOrUnknown(tokenHash);
    }
    if (l.expiresMono <= now) {
      throw StoreException.leaseLost(endExpired(l, now, out), l.leaseId);
    }
    if (l.revoked != null) {
      throw StoreException.revoked(l.revoked, l.leaseId);
    }
    return l;
  }

  Lease grant(int gpu, AcquireRequest r, long now, Outbox out) {
    boolean exclusive = capacity.exclusive(gpu, r);
    MemoryLease l = MemoryLease.granted(nextLeaseId, r, gpu, exclusive ? capacity.device(gpu).vramMb() : r.vramMb(),
        exclusive, now);
    if (journal != null) {
      journal.grant(l.record(now, wallMs(l.expiresMono)));
    }
    nextLeaseId++;
    put(l);
    out.events.add(event(LeaseEventType.GRANTED, l, l.owner, null, null));
    // A grant moves the queue head: the next waiter may fit beside this lease.
    if (queue.anyWants(gpu)) {
      out.wakes.add(gpu);
    }
    compactIfDue(now);
    return l.view(now, this::wall);
  }

  void put(MemoryLease l) {
    capacity.hold(l);
    byToken.put(l.tokenHash, l);
    byId.put(l.leaseId, l);
  }

  List<Lease> expire(long now, Outbox out) {
    List<Lease> expired = new ArrayList<>();
    // In expiry order, then by lease_id: the order lease-store.lua ends them in.
    List<MemoryLease> due = byId.values().stream().filter(l -> l.expiresMono <= now)
        .sorted(Comparator.<MemoryLease>comparingLong(l -> l.expiresMono).thenComparingLong(l -> l.leaseId)).toList();
    for (MemoryLease l : due) {
      expired.add(l.view(now, this::wall));
      endExpired(l, now, out);
    }
    expired.sort(Comparator.comparingInt(Lease::gpu).thenComparingLong(Lease::leaseId));
    return expired;
  }

  /** Ends a lease whose expires_at passed. @return the reason its holder is told */
  EndReason endExpired(MemoryLease l, long now, Outbox out) {
    if (l.revoked != null) {
      end(l, LeaseEventType.REVOKE_EXPIRED, l.revoked, "broker", "expires_at passed before the holder released", now, out);
      return l.revoked;
    }
    end(l, LeaseEventType.EXPIRED, EndReason.EXPIRED, "broker", "not renewed within ttl_s="
        + java.math.BigDecimal.valueOf(l.ttlMs, 3).stripTrailingZeros().toPlainString(),
        now, out);
    return EndReason.EXPIRED;
  }

  void revokeStale(int gpu, long now, Outbox out) {
    for (MemoryLease l : List.copyOf(capacity.on(gpu))) {
      if (l.revoked == null && now - l.grantedMono >= settings.staleMaxAgeMs()) {
        revoke(l, EndReason.STALE, "broker",
            "older than stale_max_age_s=" + settings.staleMaxAgeMs() / 1000 + " while another request waited", now, out);
      }
    }
  }

  /**
   * A request that will wait is first in line for {@code gpu} and does not fit: ask the holders
   * that offered to yield (with a priority no higher than the request's), or with preempt any of a
   * lower priority, to give the GPU back. Once per lease; the holder decides.
   */
  void askToYield(int gpu, AcquireRequest request, long now, Outbox out) {
    if (request.waitMs() <= 0) {
      return;
    }
    int rank = request.priority().rank();
    for (MemoryLease l : capacity.on(gpu)) {
      boolean asked = l.yieldable && rank >= l.priority.rank() || request.preempt() && rank > l.priority.rank();
      if (asked && l.revoked == null && l.yieldRequestedMono == 0) {
        l.yieldRequestedMono = now;
        out.events.add(event(LeaseEventType.YIELD_REQUESTED, l, request.owner(), "gpu " + gpu + " is wanted by '"
            + request.owner() + "' (priority " + request.priority().wireName() + (request.preempt() ? ", preempt" : "")
            + ")", null));
      }
    }
  }

  /** Tells the holder to stop; the capacity stays held until it confirms or expires_at passes. */
  void revoke(MemoryLease l, EndReason reason, String by, String detail, long now, Outbox out) {
    if (journal != null) {
      journal.revoke(l.leaseId, reason, now - l.grantedMono);
    }
    l.revoked = reason;
    l.revokedMono = now;
    out.events.add(event(LeaseEventType.of(reason), l, by, detail, false));
  }

  void end(MemoryLease l, LeaseEventType eventType, EndReason reason, String by, String detail, long now,
      Outbox out) {
    end(l, eventType, reason, by, detail, now, out, null);
  }

  void end(MemoryLease l, LeaseEventType eventType, EndReason reason, String by, String detail, long now, Outbox out,
      Boolean immediate) {
    LeaseJournal.Ended gone = new LeaseJournal.Ended(l.leaseId, l.tokenHash, reason);
    if (journal != null) {
      journal.end(gone);
    }
    capacity.free(l);
    byToken.remove(l.tokenHash);
    byId.remove(l.leaseId);
    ended.remember(gone);
    out.events.add(event(eventType, l, by, detail, immediate));
    out.wakes.add(l.gpu);
    compactIfDue(now);
  }

  private void compactIfDue(long now) {
    if (journal != null && journal.compactionDue(byId.size())) {
      journal.compactIfDue(byId.size(), nextLeaseId, log.nextSeq, recovering(now), records(now), ended.last());
    }
  }

  /** @return every live lease as the state file keeps it */
  List<LeaseRecord> records(long now) {
    List<LeaseRecord> list = new ArrayList<>();
    byId.values().forEach(l -> list.add(l.record(now, wallMs(l.expiresMono))));
    return list;
  }

  boolean recovering(long now) {
    return now < recoveringUntil;
  }

  /** Once the recovery grace is over the state file says so, so a restart from then on grants at once. */
  void endRecoveryIfDue(long now) {
    if (recoveringUntil == 0 || now < recoveringUntil) {
      return;
    }
    if (journal != null) {
      try {
        journal.recovered();
      } catch (StoreException e) {
        return; // written at a later step; until then a restart repeats the grace, the safe side
      }
    }
    recoveringUntil = 0;
  }

  LeaseEvent event(LeaseEventType type, MemoryLease l, String by, String reason, Boolean immediate) {
    boolean revocation = type.revokes();
    return log.add(wall(monoMs()), type, l.leaseId, l.gpu, l.owner, l.purpose, by, reason,
        revocation ? immediate : null,
        revocation ? (Boolean.TRUE.equals(immediate) ? wall(monoMs()) : wall(l.expiresMono)) : null);
  }

  Instant wall(long mono) {
    return Instant.ofEpochMilli(wallMs(mono));
  }

  long wallMs(long mono) {
    return wallBaseMs + (mono - monoBaseMs);
  }

  long monoMs() {
    return clock.monotonicMs();
  }

  private record Tombstone(long leaseId, EndReason reason) {
  }
}
