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
import io.iqa.broker.store.StoreException;
import io.iqa.broker.store.StoreListener;
import io.iqa.broker.store.StoreSnapshot;
import io.iqa.broker.store.Waiter;
import io.vertx.core.Future;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The embedded default store: all state in this process, every operation one synchronized step on
 * a monotonic clock. Listeners are called after the step, never inside it.
 */
public final class MemoryLeaseStore implements LeaseStore {

  private final StoreSettings settings;
  private final long monoBaseMs = monoMs();
  private final long wallBaseMs = System.currentTimeMillis();

  private final Map<Integer, Device> devices = new TreeMap<>();
  private final Map<String, Held> byToken = new HashMap<>();
  private final Map<Long, Held> byId = new TreeMap<>();
  private final Map<String, Queued> queue = new LinkedHashMap<>();
  private final ArrayDeque<LeaseEvent> events = new ArrayDeque<>();
  private final Cache<String, Tombstone> ended;
  private StoreListener listener;
  private long nextLeaseId = 1;
  private long nextEventSeq = 1;
  private long nextQueueSeq = 1;

  public MemoryLeaseStore(StoreSettings settings) {
    this.settings = settings;
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
  public Future<Void> start(List<GpuDevice> gpus, StoreListener storeListener) {
    synchronized (this) {
      this.listener = storeListener;
      for (GpuDevice gpu : gpus) {
        devices.put(gpu.index(), new Device(gpu));
      }
    }
    return Future.succeededFuture();
  }

  @Override
  public Future<AcquireResult> acquire(LeaseRequest request, String waiterId) {
    Outbox out = new Outbox();
    AcquireResult result;
    synchronized (this) {
      long now = monoMs();
      expire(now, out);
      dropAbandonedWaiters(now, out);
      Queued me = waiterId == null ? null : queue.get(waiterId);
      Queued probe = me != null ? me : new Queued(waiterId, request, now, now + request.waitMs(), Long.MAX_VALUE);
      int bestPosition = Integer.MAX_VALUE;
      result = null;
      for (Device device : candidates(request)) {
        int ahead = countAhead(device.gpu.index(), probe, now);
        bestPosition = Math.min(bestPosition, ahead + 1);
        if (ahead > 0) {
          continue;
        }
        if (!fits(device, request)) {
          endStale(device, now, out);
          if (!fits(device, request)) {
            continue;
          }
        }
        if (me != null) {
          queue.remove(waiterId);
        }
        result = new AcquireResult.Granted(grant(device, request, now, out));
        break;
      }
      if (result == null) {
        if (me == null && waiterId != null && request.waitMs() > 0) {
          queue.put(waiterId, new Queued(waiterId, request, now, now + request.waitMs(), nextQueueSeq++));
        }
        result = busy(request, bestPosition, now);
      }
    }
    out.dispatch(listener);
    return Future.succeededFuture(result);
  }

  @Override
  public Future<Void> cancelWait(String waiterId) {
    Outbox out = new Outbox();
    synchronized (this) {
      Queued removed = queue.remove(waiterId);
      if (removed != null) {
        wakeCandidates(removed.request, out);
      }
    }
    out.dispatch(listener);
    return Future.succeededFuture();
  }

  @Override
  public Future<Lease> renew(String tokenHash, Long ttlMs) {
    Outbox out = new Outbox();
    Lease renewed;
    StoreException lost = null;
    synchronized (this) {
      long now = monoMs();
      Held held = byToken.get(tokenHash);
      if (held == null) {
        lost = lostOrUnknown(tokenHash);
        renewed = null;
      } else if (held.expiresMono <= now) {
        end(held, EndReason.EXPIRED, "broker", "not renewed within its ttl", now, out);
        lost = StoreException.leaseLost(EndReason.EXPIRED, held.leaseId);
        renewed = null;
      } else {
        if (ttlMs != null) {
          held.ttlMs = ttlMs;
        }
        held.expiresMono = now + held.ttlMs;
        renewed = held.view(now);
        out.events.add(event("renewed", held, held.owner, null));
      }
    }
    out.dispatch(listener);
    return lost != null ? Future.failedFuture(lost) : Future.succeededFuture(renewed);
  }

  @Override
  public Future<ReleaseResult> release(String tokenHash) {
    Outbox out = new Outbox();
    ReleaseResult result;
    synchronized (this) {
      long now = monoMs();
      Held held = byToken.get(tokenHash);
      if (held != null && held.expiresMono <= now) {
        end(held, EndReason.EXPIRED, "broker", "not renewed within its ttl", now, out);
        result = new ReleaseResult(false, EndReason.EXPIRED);
      } else if (held != null) {
        end(held, EndReason.RELEASED, held.owner, null, now, out);
        result = new ReleaseResult(true, null);
      } else {
        Tombstone tomb = ended.getIfPresent(tokenHash);
        result = tomb == null ? null : new ReleaseResult(false, tomb.reason);
      }
    }
    out.dispatch(listener);
    return result != null ? Future.succeededFuture(result)
        : Future.failedFuture(new StoreException(StoreException.Kind.UNKNOWN_LEASE, "no lease is known for this token"));
  }

  @Override
  public Future<List<Lease>> forceRelease(ForceReleaseSelector sel) {
    Outbox out = new Outbox();
    List<Lease> released = new ArrayList<>();
    StoreException failure = null;
    synchronized (this) {
      long now = monoMs();
      expire(now, out);
      List<Held> selected = new ArrayList<>();
      for (Held held : byId.values()) {
        if ((sel.leaseId() == null || held.leaseId == sel.leaseId())
            && (sel.owner() == null || held.owner.equals(sel.owner()))
            && (sel.olderThanMs() == null || now - held.grantedMono >= sel.olderThanMs())) {
          selected.add(held);
        }
      }
      if (sel.leaseId() != null && selected.isEmpty()) {
        failure = new StoreException(StoreException.Kind.UNKNOWN_LEASE,
            "no active lease matches lease_id " + sel.leaseId() + (sel.owner() != null ? " and owner " + sel.owner() : ""));
      } else if (sel.allowedOwner() != null
          && selected.stream().anyMatch(h -> !h.owner.equals(sel.allowedOwner()))) {
        failure = new StoreException(StoreException.Kind.FORBIDDEN,
            "'" + sel.allowedOwner() + "' may only force-release its own leases");
      } else {
        for (Held held : selected) {
          released.add(held.view(now));
          end(held, EndReason.FORCE_RELEASED, sel.by(), sel.reason(), now, out);
        }
      }
    }
    out.dispatch(listener);
    return failure != null ? Future.failedFuture(failure) : Future.succeededFuture(released);
  }

  @Override
  public Future<Boolean> end(long leaseId, EndReason reason, String by, String detail) {
    Outbox out = new Outbox();
    boolean done;
    synchronized (this) {
      Held held = byId.get(leaseId);
      done = held != null;
      if (done) {
        end(held, reason, by, detail, monoMs(), out);
      }
    }
    out.dispatch(listener);
    return Future.succeededFuture(done);
  }

  @Override
  public Future<List<Lease>> expireDue() {
    Outbox out = new Outbox();
    List<Lease> expired;
    synchronized (this) {
      long now = monoMs();
      expired = expire(now, out);
      dropAbandonedWaiters(now, out);
    }
    out.dispatch(listener);
    return Future.succeededFuture(expired);
  }

  @Override
  public synchronized Future<StoreSnapshot> snapshot() {
    long now = monoMs();
    List<Lease> leases = new ArrayList<>();
    for (Held held : byId.values()) {
      leases.add(held.view(now));
    }
    leases.sort(Comparator.comparingInt(Lease::gpu).thenComparingLong(Lease::leaseId));
    List<Waiter> waiting = new ArrayList<>();
    for (Queued q : queueOrder(now)) {
      LeaseRequest r = q.request;
      waiting.add(new Waiter(r.owner(), r.purpose(), r.gpu(), r.vramMb(), r.priority(), now - q.enqueuedMono));
    }
    return Future.succeededFuture(new StoreSnapshot(wall(now), leases, waiting));
  }

  @Override
  public synchronized Future<List<LeaseEvent>> events() {
    return Future.succeededFuture(List.copyOf(events));
  }

  @Override
  public Future<Void> close() {
    return Future.succeededFuture();
  }

  // ---- the steps, always called holding the lock ----

  private List<Device> candidates(LeaseRequest request) {
    if (request.gpu() != null) {
      Device d = devices.get(request.gpu());
      return d == null ? List.of() : List.of(d);
    }
    List<Device> out = new ArrayList<>();
    for (Device d : devices.values()) {
      if (request.vramMb() == null || d.gpu.vramMb() == 0 || d.gpu.vramMb() >= request.vramMb()) {
        out.add(d);
      }
    }
    return out;
  }

  private static boolean exclusive(Device device, LeaseRequest request) {
    return request.vramMb() == null || device.gpu.vramMb() == 0;
  }

  private static boolean fits(Device device, LeaseRequest request) {
    if (device.leases.isEmpty()) {
      return true;
    }
    if (exclusive(device, request)) {
      return false;
    }
    int used = 0;
    for (Held held : device.leases) {
      if (held.exclusive) {
        return false;
      }
      used += held.vramMb;
    }
    return used + request.vramMb() <= device.gpu.vramMb();
  }

  private Lease grant(Device device, LeaseRequest r, long now, Outbox out) {
    boolean exclusive = exclusive(device, r);
    Held held = new Held(nextLeaseId++, r, device.gpu.index(), exclusive ? device.gpu.vramMb() : r.vramMb(), exclusive, now);
    device.leases.add(held);
    byToken.put(held.tokenHash, held);
    byId.put(held.leaseId, held);
    out.events.add(event("granted", held, held.owner, null));
    // A grant moves the queue head: the next waiter may fit beside this lease.
    if (queue.values().stream().anyMatch(q -> q.wants(device.gpu.index(), devices))) {
      out.wakes.add(device.gpu.index());
    }
    return held.view(now);
  }

  private AcquireResult.Busy busy(LeaseRequest request, int position, long now) {
    List<Lease> holders = new ArrayList<>();
    long retryAt = Long.MAX_VALUE;
    for (Device device : candidates(request)) {
      for (Held held : device.leases) {
        holders.add(held.view(now));
        retryAt = Math.min(retryAt, held.expiresMono);
        long staleAt = held.grantedMono + settings.staleMaxAgeMs();
        if (staleAt > now) {
          retryAt = Math.min(retryAt, staleAt);
        }
      }
    }
    return new AcquireResult.Busy(holders, position == Integer.MAX_VALUE ? 1 : position,
        retryAt == Long.MAX_VALUE ? -1 : Math.max(1, retryAt - now));
  }

  private List<Lease> expire(long now, Outbox out) {
    List<Lease> expired = new ArrayList<>();
    for (Held held : List.copyOf(byId.values())) {
      if (held.expiresMono <= now) {
        expired.add(held.view(now));
        end(held, EndReason.EXPIRED, "broker", "not renewed within ttl_s=" + held.ttlMs / 1000.0, now, out);
      }
    }
    return expired;
  }

  private void endStale(Device device, long now, Outbox out) {
    for (Held held : List.copyOf(device.leases)) {
      long age = now - held.grantedMono;
      if (age >= settings.staleMaxAgeMs()) {
        end(held, EndReason.STALE, "broker",
            "older than stale_max_age_s=" + settings.staleMaxAgeMs() / 1000 + " while another request waited", now, out);
      }
    }
  }

  private void dropAbandonedWaiters(long now, Outbox out) {
    queue.values().removeIf(q -> {
      boolean gone = q.deadlineMono <= now;
      if (gone) {
        wakeCandidates(q.request, out);
      }
      return gone;
    });
  }

  private void end(Held held, EndReason reason, String by, String detail, long now, Outbox out) {
    Device device = devices.get(held.gpu);
    device.leases.remove(held);
    byToken.remove(held.tokenHash);
    byId.remove(held.leaseId);
    ended.put(held.tokenHash, new Tombstone(held.leaseId, reason));
    out.events.add(event(reason.wireName(), held, by, detail));
    out.wakes.add(held.gpu);
  }

  private void wakeCandidates(LeaseRequest request, Outbox out) {
    for (Device d : candidates(request)) {
      out.wakes.add(d.gpu.index());
    }
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
      if (q != me && q.wants(gpu, devices) && order.compare(q, me) < 0) {
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

  private LeaseEvent event(String type, Held held, String by, String reason) {
    LeaseEvent e = new LeaseEvent(nextEventSeq++, Instant.now(), type, held.leaseId, held.gpu, held.owner,
        held.purpose, by, reason);
    events.addLast(e);
    while (events.size() > settings.eventsMax()) {
      events.removeFirst();
    }
    return e;
  }

  private Instant wall(long mono) {
    return Instant.ofEpochMilli(wallBaseMs + (mono - monoBaseMs));
  }

  private static long monoMs() {
    return System.nanoTime() / 1_000_000L;
  }

  // ---- state ----

  private static final class Device {
    final GpuDevice gpu;
    final List<Held> leases = new ArrayList<>();

    Device(GpuDevice gpu) {
      this.gpu = gpu;
    }
  }

  private final class Held {
    final long leaseId;
    final String tokenHash;
    final int gpu;
    final String owner;
    final String purpose;
    final int vramMb;
    final boolean exclusive;
    final LeaseRequest request;
    final long grantedMono;
    long ttlMs;
    long expiresMono;

    Held(long leaseId, LeaseRequest r, int gpu, int vramMb, boolean exclusive, long now) {
      this.leaseId = leaseId;
      this.tokenHash = r.tokenHash();
      this.gpu = gpu;
      this.owner = r.owner();
      this.purpose = r.purpose();
      this.vramMb = vramMb;
      this.exclusive = exclusive;
      this.request = r;
      this.grantedMono = now;
      this.ttlMs = r.ttlMs();
      this.expiresMono = now + r.ttlMs();
    }

    Lease view(long now) {
      return new Lease(leaseId, tokenHash, gpu, owner, purpose, vramMb, exclusive, request.priority(),
          request.pid(), request.pidStartMs(), request.host(), wall(grantedMono), wall(expiresMono), ttlMs,
          now - grantedMono, expiresMono - now);
    }
  }

  private record Queued(String waiterId, LeaseRequest request, long enqueuedMono, long deadlineMono, long seq) {
    boolean wants(int gpu, Map<Integer, Device> devices) {
      if (request.gpu() != null) {
        return request.gpu() == gpu;
      }
      Device d = devices.get(gpu);
      return request.vramMb() == null || d.gpu.vramMb() == 0 || d.gpu.vramMb() >= request.vramMb();
    }
  }

  private record Tombstone(long leaseId, EndReason reason) {
  }

  /** Events and wake-ups collected inside a step, delivered after it. */
  private static final class Outbox {
    final List<LeaseEvent> events = new ArrayList<>();
    final java.util.Set<Integer> wakes = new java.util.LinkedHashSet<>();

    void dispatch(StoreListener listener) {
      if (listener == null) {
        return;
      }
      events.forEach(e -> listener.onEvent(e, true));
      wakes.forEach(listener::onWake);
    }
  }
}
