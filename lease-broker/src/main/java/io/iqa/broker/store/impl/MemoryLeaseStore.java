package io.iqa.broker.store.impl;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.iqa.broker.GpuDevice;
import io.iqa.broker.store.AcquireResult;
import io.iqa.broker.store.EndReason;
import io.iqa.broker.store.ForceReleaseSelector;
import io.iqa.broker.store.Lease;
import io.iqa.broker.store.LeaseEvent;
import io.iqa.broker.store.LeaseRequest;
import io.iqa.broker.store.LeaseStore;
import io.iqa.broker.store.ReleaseResult;
import io.iqa.broker.store.StoreClock;
import io.iqa.broker.store.StoreException;
import io.iqa.broker.store.StoreListener;
import io.iqa.broker.store.StoreSettings;
import io.iqa.broker.store.StoreSnapshot;
import io.iqa.broker.store.Waiter;
import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The embedded default store: all state in this process, every operation one synchronized step on
 * a monotonic clock, optionally kept in a state file ({@link LeaseJournal}) written inside the step.
 * Listeners are called after the step, never inside it.
 */
public final class MemoryLeaseStore implements LeaseStore {

  private static final Logger LOG = LoggerFactory.getLogger(MemoryLeaseStore.class);

  private final StoreSettings settings;
  private final StoreClock clock;
  private final long monoBaseMs;
  private final long wallBaseMs;

  private final Map<Integer, List<MemoryLease>> devices = new TreeMap<>();
  private final Map<Integer, GpuDevice> gpus = new TreeMap<>();
  private final Map<String, MemoryLease> byToken = new HashMap<>();
  private final Map<Long, MemoryLease> byId = new TreeMap<>();
  private final Map<String, Queued> queue = new LinkedHashMap<>();
  private final ArrayDeque<LeaseEvent> events = new ArrayDeque<>();
  private final Cache<String, Tombstone> ended;
  private StoreListener listener;
  private LeaseJournal journal;
  private long recoveringUntil;
  private long nextLeaseId = 1;
  private long nextEventSeq = 1;
  private long nextQueueSeq = 1;

  public MemoryLeaseStore(StoreSettings settings) {
    this(settings, StoreClock.SYSTEM);
  }

  public MemoryLeaseStore(StoreSettings settings, StoreClock clock) {
    this.settings = settings;
    this.clock = clock;
    this.monoBaseMs = clock.monotonicMs();
    this.wallBaseMs = clock.wallMs();
    this.ended = Caffeine.newBuilder()
        // Eviction bookkeeping on the caller's thread: no hop to the common pool on every release.
        .executor(Runnable::run)
        .maximumSize(settings.tombstonesMax())
        .expireAfterWrite(Duration.ofMillis(settings.tombstoneTtlMs()))
        .build();
  }

  @Override
  public String type() {
    return "memory";
  }

  @Override
  public Future<Void> start(List<GpuDevice> list, StoreListener storeListener) {
    try {
      synchronized (this) {
        this.listener = storeListener;
        for (GpuDevice gpu : list) {
          gpus.put(gpu.index(), gpu);
          devices.put(gpu.index(), new ArrayList<>());
        }
        restore();
      }
      return Future.succeededFuture();
    } catch (StoreException e) {
      return Future.failedFuture(e);
    }
  }

  /** Reads the state file, or starts the recovery period when there is no state to read. */
  private void restore() {
    long now = monoMs();
    LeaseJournal.State state = settings.stateFile() == null || settings.fresh() ? null
        : LeaseJournal.read(settings.stateFile());
    if (state != null) {
      nextLeaseId = state.nextLeaseId();
      nextEventSeq = state.nextEventSeq();
      for (JsonObject j : state.leases()) {
        MemoryLease l = LeaseJournal.fromJson(j, wall -> now + (wall - clock.wallMs()));
        if (!devices.containsKey(l.gpu)) {
          throw new StoreException(StoreException.Kind.UNAVAILABLE, "the lease state file " + settings.stateFile()
              + " holds lease " + l.leaseId + " on gpu " + l.gpu + ", which this broker's gpus do not list");
        }
        put(l);
      }
      LOG.info("restored {} lease(s) from {} (next lease_id {})", byId.size(), settings.stateFile(), nextLeaseId);
    } else if (!settings.fresh() && settings.recoveryGraceMs() > 0) {
      recoveringUntil = now + settings.recoveryGraceMs();
      LOG.warn("started without lease state ({}): granting nothing until {} (recovery_grace_s={}), in case a lease "
          + "granted before this start is still in use. Start with --fresh when no such lease can be alive.",
          settings.stateFile() == null ? "no state_file configured" : "no state file at " + settings.stateFile(),
          wall(recoveringUntil), settings.recoveryGraceMs() / 1000);
    }
    if (settings.stateFile() != null) {
      journal = LeaseJournal.open(settings.stateFile(), settings.stateFsync(), nextLeaseId, nextEventSeq, liveJson());
    }
  }

  @Override
  public Future<AcquireResult> acquire(LeaseRequest request, String waiterId) {
    return step(out -> {
      long now = monoMs();
      expire(now, out);
      dropAbandonedWaiters(now, out);
      Queued me = waiterId == null ? null : queue.get(waiterId);
      Queued probe = me != null ? me : new Queued(waiterId, request, now, now + request.waitMs(), Long.MAX_VALUE);
      int bestPosition = Integer.MAX_VALUE;
      boolean recovering = now < recoveringUntil;
      for (int gpu : candidates(request)) {
        int ahead = countAhead(gpu, probe, now);
        bestPosition = Math.min(bestPosition, ahead + 1);
        if (ahead > 0 || recovering) {
          continue;
        }
        if (!fits(gpu, request)) {
          revokeStale(gpu, now, out);
          if (!fits(gpu, request)) {
            askToYield(gpu, request, now, out);
            continue;
          }
        }
        if (me != null) {
          queue.remove(waiterId);
        }
        return new AcquireResult.Granted(grant(gpu, request, now, out));
      }
      if (me == null && waiterId != null && request.waitMs() > 0) {
        queue.put(waiterId, new Queued(waiterId, request, now, now + request.waitMs(), nextQueueSeq++));
      }
      return busy(request, bestPosition, now);
    });
  }

  @Override
  public Future<Void> cancelWait(String waiterId) {
    return step(out -> {
      Queued removed = queue.remove(waiterId);
      if (removed != null) {
        out.wakes.addAll(candidates(removed.request));
      }
      return null;
    });
  }

  @Override
  public Future<Lease> renew(String tokenHash, Long ttlMs, String by) {
    return step(out -> {
      long now = monoMs();
      MemoryLease l = live(tokenHash, now, out);
      if (ttlMs != null) {
        l.ttlMs = ttlMs;
      }
      long expires = now + l.ttlMs;
      if (journal != null) {
        journal.renew(l.leaseId, l.ttlMs, wallMs(expires));
      }
      l.expiresMono = expires;
      out.events.add(event("renewed", l, by != null ? by : l.owner, null, null));
      return l.view(now, this::wall);
    });
  }

  @Override
  public Future<Void> note(String type, int gpu, String subject, String detail) {
    return step(out -> {
      out.events.add(record(new LeaseEvent(nextEventSeq++, wall(monoMs()), type, 0, gpu, subject, "", "broker", detail,
          null, null)));
      return null;
    });
  }

  @Override
  public Future<Lease> lookup(String tokenHash) {
    return step(out -> {
      long now = monoMs();
      MemoryLease l = byToken.get(tokenHash);
      if (l == null) {
        throw lostOrUnknown(tokenHash);
      }
      return l.view(now, this::wall);
    });
  }

  @Override
  public Future<ReleaseResult> release(String tokenHash, String by, String why) {
    return step(out -> {
      long now = monoMs();
      MemoryLease l = byToken.get(tokenHash);
      if (l == null) {
        StoreException e = lostOrUnknown(tokenHash);
        if (e.kind() == StoreException.Kind.UNKNOWN_LEASE) {
          throw e;
        }
        return new ReleaseResult(false, e.reason(), null);
      }
      if (l.expiresMono <= now) {
        return new ReleaseResult(false, endExpired(l, now, out), null);
      }
      EndReason revoked = l.revoked;
      String who = by != null ? by : l.owner;
      if (revoked != null) {
        end(l, LeaseEvent.REVOKE_CONFIRMED, revoked, who, "the holder stopped and released", now, out);
      } else {
        end(l, EndReason.RELEASED.wireName(), EndReason.RELEASED, who, why, now, out);
      }
      return new ReleaseResult(true, null, revoked);
    });
  }

  @Override
  public Future<List<Lease>> forceRelease(ForceReleaseSelector sel) {
    return step(out -> {
      long now = monoMs();
      expire(now, out);
      List<MemoryLease> selected = new ArrayList<>();
      for (MemoryLease l : byId.values()) {
        if ((sel.leaseId() == null || l.leaseId == sel.leaseId())
            && (sel.owner() == null || l.owner.equals(sel.owner()))
            && (sel.olderThanMs() == null || now - l.grantedMono >= sel.olderThanMs())) {
          selected.add(l);
        }
      }
      if (sel.leaseId() != null && selected.isEmpty()) {
        throw new StoreException(StoreException.Kind.UNKNOWN_LEASE,
            "no active lease matches lease_id " + sel.leaseId() + (sel.owner() != null ? " and owner " + sel.owner() : ""));
      }
      if (sel.allowedOwners() != null && selected.stream().anyMatch(l -> !sel.allowedOwners().contains(l.owner))) {
        throw new StoreException(StoreException.Kind.FORBIDDEN,
            "'" + sel.by() + "' may only force-release leases of " + sel.allowedOwners());
      }
      List<Lease> released = new ArrayList<>();
      for (MemoryLease l : selected) {
        if (sel.immediate()) {
          released.add(l.view(now, this::wall));
          end(l, EndReason.FORCE_RELEASED.wireName(), EndReason.FORCE_RELEASED, sel.by(), sel.reason(), now, out,
              true);
        } else {
          if (l.revoked == null) {
            revoke(l, EndReason.FORCE_RELEASED, sel.by(), sel.reason(), now, out);
          }
          released.add(l.view(now, this::wall));
        }
      }
      return released;
    });
  }

  @Override
  public Future<Boolean> end(long leaseId, EndReason reason, String by, String detail) {
    return step(out -> {
      MemoryLease l = byId.get(leaseId);
      if (l != null) {
        end(l, reason.wireName(), reason, by, detail, monoMs(), out);
      }
      return l != null;
    });
  }

  @Override
  public Future<List<Lease>> expireDue() {
    return step(out -> {
      long now = monoMs();
      List<Lease> expired = expire(now, out);
      dropAbandonedWaiters(now, out);
      return expired;
    });
  }

  @Override
  public synchronized Future<StoreSnapshot> snapshot() {
    long now = monoMs();
    List<Lease> leases = new ArrayList<>();
    for (MemoryLease l : byId.values()) {
      leases.add(l.view(now, this::wall));
    }
    leases.sort(Comparator.comparingInt(Lease::gpu).thenComparingLong(Lease::leaseId));
    List<Waiter> waiting = new ArrayList<>();
    for (Queued q : queueOrder(now)) {
      if (q.deadlineMono > now) {
        LeaseRequest r = q.request;
        waiting.add(new Waiter(r.owner(), r.purpose(), r.gpu(), r.vramMb(), r.priority(), now - q.enqueuedMono));
      }
    }
    return Future.succeededFuture(new StoreSnapshot(wall(now), leases, waiting,
        now < recoveringUntil ? wall(recoveringUntil) : null));
  }

  @Override
  public synchronized Future<List<LeaseEvent>> events() {
    return Future.succeededFuture(List.copyOf(events));
  }

  @Override
  public synchronized Future<Void> close() {
    if (journal != null) {
      journal.close();
    }
    return Future.succeededFuture();
  }

  // ---- the steps, always called holding the lock ----

  /** Runs {@code body} as one atomic step; its events and wake-ups are delivered after the lock. */
  private <T> Future<T> step(java.util.function.Function<Outbox, T> body) {
    Outbox out = new Outbox();
    T result;
    try {
      synchronized (this) {
        result = body.apply(out);
      }
    } catch (StoreException e) {
      out.dispatch(listener);
      return Future.failedFuture(e);
    }
    out.dispatch(listener);
    return Future.succeededFuture(result);
  }

  /** The live lease behind a token that may still be renewed; throws LEASE_LOST or UNKNOWN_LEASE. */
  private MemoryLease live(String tokenHash, long now, Outbox out) {
    MemoryLease l = byToken.get(tokenHash);
    if (l == null) {
      throw lostOrUnknown(tokenHash);
    }
    if (l.expiresMono <= now) {
      throw StoreException.leaseLost(endExpired(l, now, out), l.leaseId);
    }
    if (l.revoked != null) {
      throw StoreException.revoked(l.revoked, l.leaseId);
    }
    return l;
  }

  private List<Integer> candidates(LeaseRequest request) {
    if (request.gpu() != null) {
      return gpus.containsKey(request.gpu()) ? List.of(request.gpu()) : List.of();
    }
    List<Integer> out = new ArrayList<>();
    for (GpuDevice d : gpus.values()) {
      if (request.vramMb() == null || d.vramMb() == 0 || d.vramMb() >= request.vramMb()) {
        out.add(d.index());
      }
    }
    return out;
  }

  private boolean exclusive(int gpu, LeaseRequest request) {
    return request.vramMb() == null || gpus.get(gpu).vramMb() == 0;
  }

  /** Revoking leases still hold their capacity: their holders may not have stopped yet. */
  private boolean fits(int gpu, LeaseRequest request) {
    List<MemoryLease> held = devices.get(gpu);
    if (held.isEmpty()) {
      return true;
    }
    if (exclusive(gpu, request)) {
      return false;
    }
    int used = 0;
    for (MemoryLease l : held) {
      if (l.exclusive) {
        return false;
      }
      used += l.vramMb;
    }
    return used + request.vramMb() <= gpus.get(gpu).vramMb();
  }

  private Lease grant(int gpu, LeaseRequest r, long now, Outbox out) {
    boolean exclusive = exclusive(gpu, r);
    MemoryLease l = MemoryLease.granted(nextLeaseId, r, gpu, exclusive ? gpus.get(gpu).vramMb() : r.vramMb(),
        exclusive, now);
    if (journal != null) {
      journal.grant(LeaseJournal.toJson(l, this::wallMs));
    }
    nextLeaseId++;
    put(l);
    out.events.add(event("granted", l, l.owner, null, null));
    // A grant moves the queue head: the next waiter may fit beside this lease.
    if (queue.values().stream().anyMatch(q -> wantsAny(q, gpu))) {
      out.wakes.add(gpu);
    }
    compactIfDue();
    return l.view(now, this::wall);
  }

  private void put(MemoryLease l) {
    devices.get(l.gpu).add(l);
    byToken.put(l.tokenHash, l);
    byId.put(l.leaseId, l);
  }

  private AcquireResult.Busy busy(LeaseRequest request, int position, long now) {
    List<Lease> holders = new ArrayList<>();
    long retryAt = Long.MAX_VALUE;
    for (int gpu : candidates(request)) {
      for (MemoryLease l : devices.get(gpu)) {
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

  private List<Lease> expire(long now, Outbox out) {
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
  private EndReason endExpired(MemoryLease l, long now, Outbox out) {
    if (l.revoked != null) {
      end(l, LeaseEvent.REVOKE_EXPIRED, l.revoked, "broker", "expires_at passed before the holder released", now, out);
      return l.revoked;
    }
    end(l, EndReason.EXPIRED.wireName(), EndReason.EXPIRED, "broker", "not renewed within ttl_s="
        + java.math.BigDecimal.valueOf(l.ttlMs, 3).stripTrailingZeros().toPlainString(),
        now, out);
    return EndReason.EXPIRED;
  }

  private void revokeStale(int gpu, long now, Outbox out) {
    for (MemoryLease l : List.copyOf(devices.get(gpu))) {
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
  private void askToYield(int gpu, LeaseRequest request, long now, Outbox out) {
    if (request.waitMs() <= 0) {
      return;
    }
    int rank = request.priority().rank();
    for (MemoryLease l : devices.get(gpu)) {
      boolean asked = l.yieldable && rank >= l.priority.rank() || request.preempt() && rank > l.priority.rank();
      if (asked && l.revoked == null && l.yieldRequestedMono == 0) {
        l.yieldRequestedMono = now;
        out.events.add(event(LeaseEvent.YIELD_REQUESTED, l, request.owner(), "gpu " + gpu + " is wanted by '"
            + request.owner() + "' (priority " + request.priority().wireName() + (request.preempt() ? ", preempt" : "")
            + ")", null));
      }
    }
  }

  /** Tells the holder to stop; the capacity stays held until it confirms or expires_at passes. */
  private void revoke(MemoryLease l, EndReason reason, String by, String detail, long now, Outbox out) {
    if (journal != null) {
      journal.revoke(l.leaseId, reason, wallMs(now));
    }
    l.revoked = reason;
    l.revokedMono = now;
    out.events.add(event(reason.wireName(), l, by, detail, false));
  }

  private void end(MemoryLease l, String eventType, EndReason reason, String by, String detail, long now,
      Outbox out) {
    end(l, eventType, reason, by, detail, now, out, null);
  }

  private void end(MemoryLease l, String eventType, EndReason reason, String by, String detail, long now, Outbox out,
      Boolean immediate) {
    if (journal != null) {
      journal.end(l.leaseId);
    }
    devices.get(l.gpu).remove(l);
    byToken.remove(l.tokenHash);
    byId.remove(l.leaseId);
    ended.put(l.tokenHash, new Tombstone(l.leaseId, reason));
    out.events.add(event(eventType, l, by, detail, immediate));
    out.wakes.add(l.gpu);
    compactIfDue();
  }

  private void compactIfDue() {
    if (journal != null && journal.compactionDue(byId.size())) {
      journal.compact(nextLeaseId, nextEventSeq, liveJson());
    }
  }

  private List<JsonObject> liveJson() {
    List<JsonObject> list = new ArrayList<>();
    byId.values().forEach(l -> list.add(LeaseJournal.toJson(l, this::wallMs)));
    return list;
  }

  private void dropAbandonedWaiters(long now, Outbox out) {
    queue.values().removeIf(q -> {
      boolean gone = q.deadlineMono <= now;
      if (gone) {
        out.wakes.addAll(candidates(q.request));
      }
      return gone;
    });
  }

  private StoreException lostOrUnknown(String tokenHash) {
    Tombstone tomb = ended.getIfPresent(tokenHash);
    if (tomb == null) {
      return new StoreException(StoreException.Kind.UNKNOWN_LEASE, "no lease is known for this token");
    }
    return StoreException.leaseLost(tomb.reason, tomb.leaseId);
  }

  private int countAhead(int gpu, Queued me, long now) {
    int ahead = 0;
    Comparator<Queued> order = order(now);
    for (Queued q : queue.values()) {
      if (q != me && wantsAny(q, gpu) && order.compare(q, me) < 0) {
        ahead++;
      }
    }
    return ahead;
  }

  private List<Queued> queueOrder(long now) {
    List<Queued> ordered = new ArrayList<>(queue.values());
    ordered.sort(order(now));
    return ordered;
  }

  /** Highest effective rank first (priority plus one level per aging interval waited), then FIFO. */
  private Comparator<Queued> order(long now) {
    long aging = settings.priorityAgingMs();
    Comparator<Queued> byRank = Comparator.comparingLong(
        q -> -(q.request.priority().rank() + (aging > 0 ? (now - q.enqueuedMono) / aging : 0)));
    return byRank.thenComparingLong(q -> q.enqueuedMono).thenComparingLong(q -> q.seq);
  }

  private LeaseEvent event(String type, MemoryLease l, String by, String reason, Boolean immediate) {
    boolean revocation = type.equals("force_released") || type.equals("stale");
    return record(new LeaseEvent(nextEventSeq++, wall(monoMs()), type, l.leaseId, l.gpu, l.owner, l.purpose, by,
        reason, revocation ? immediate : null,
        revocation ? (Boolean.TRUE.equals(immediate) ? wall(monoMs()) : wall(l.expiresMono)) : null));
  }

  private LeaseEvent record(LeaseEvent e) {
    events.addLast(e);
    while (events.size() > settings.eventsMax()) {
      events.removeFirst();
    }
    return e;
  }

  private Instant wall(long mono) {
    return Instant.ofEpochMilli(wallMs(mono));
  }

  private long wallMs(long mono) {
    return wallBaseMs + (mono - monoBaseMs);
  }

  private long monoMs() {
    return clock.monotonicMs();
  }

  // ---- state ----

  private record Queued(String waiterId, LeaseRequest request, long enqueuedMono, long deadlineMono, long seq) {
  }

  private boolean wantsAny(Queued q, int gpu) {
    return q.request.gpu() != null ? q.request.gpu() == gpu
        : q.request.vramMb() == null || gpus.get(gpu).vramMb() == 0 || gpus.get(gpu).vramMb() >= q.request.vramMb();
  }

  private record Tombstone(long leaseId, EndReason reason) {
  }

  /** Events and wake-ups collected inside a step, delivered after it. */
  private static final class Outbox {
    final List<LeaseEvent> events = new ArrayList<>();
    final Set<Integer> wakes = new LinkedHashSet<>();

    void dispatch(StoreListener listener) {
      if (listener == null) {
        return;
      }
      events.forEach(e -> listener.onEvent(e, true));
      wakes.forEach(listener::onWake);
    }
  }
}
