package io.iqa.broker.store.memory;

import io.iqa.broker.gpu.GpuDevice;
import io.iqa.broker.store.AcquireResult;
import io.iqa.protocol.wire.EndReason;
import io.iqa.broker.store.ForceReleaseSelector;
import io.iqa.broker.store.Lease;
import io.iqa.broker.store.LeaseEvent;
import io.iqa.broker.store.LeaseEventType;
import io.iqa.broker.store.AcquireRequest;
import io.iqa.broker.store.LeaseStore;
import io.iqa.broker.store.ReleaseResult;
import io.iqa.broker.store.StoreClock;
import io.iqa.broker.store.StoreException;
import io.iqa.broker.store.StoreListener;
import io.iqa.broker.store.StoreSettings;
import io.iqa.broker.store.StoreSnapshot;
import io.iqa.broker.store.JournalFile;
import io.iqa.broker.store.RestoreRule;
import io.vertx.core.Future;
import java.util.ArrayList;
import java.util.List;
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
  private final MemoryCapacity capacity = new MemoryCapacity();
  private final MemoryWaitQueue queue;
  private final MemoryLeases leases;
  private final StoreClock clock;
  private final JournalFile file;
  private final RestoreRule restoreRule;
  private StoreListener listener;

  public MemoryLeaseStore(StoreSettings settings) {
    this(settings, StoreClock.SYSTEM, settings.stateFile() == null ? null : new PathJournalFile(settings.stateFile()),
        RestoreRule.FULL_TTL);
  }

  /**
   * @param file the state file, or null for none (a start then never knows what was granted before)
   * @param restoreRule how long a restored lease still has ({@link RestoreRule#FULL_TTL})
   */
  public MemoryLeaseStore(StoreSettings settings, StoreClock clock, JournalFile file, RestoreRule restoreRule) {
    this.settings = settings;
    this.clock = clock;
    this.file = file;
    this.restoreRule = restoreRule;
    this.queue = new MemoryWaitQueue(capacity, settings.priorityAgingMs());
    this.leases = new MemoryLeases(settings, clock, capacity, queue);
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
        list.forEach(capacity::add);
        StateRestore.restore(settings, file, clock, restoreRule, capacity, leases);
      }
      return Future.succeededFuture();
    } catch (StoreException e) {
      return Future.failedFuture(e);
    }
  }

  @Override
  public Future<AcquireResult> acquire(AcquireRequest request, String waiterId) {
    return step(out -> {
      long now = leases.monoMs();
      leases.endRecoveryIfDue(now);
      leases.expire(now, out);
      queue.dropAbandoned(now, out.wakes);
      MemoryWaitQueue.Queued me = queue.get(waiterId);
      MemoryWaitQueue.Queued probe = me != null ? me : MemoryWaitQueue.probe(waiterId, request, now);
      int bestPosition = Integer.MAX_VALUE;
      boolean recovering = leases.recovering(now);
      for (int gpu : capacity.candidates(request)) {
        int ahead = queue.countAhead(gpu, probe, now);
        bestPosition = Math.min(bestPosition, ahead + 1);
        if (ahead > 0 || recovering) {
          continue;
        }
        if (!capacity.fits(gpu, request)) {
          leases.revokeStale(gpu, now, out);
          if (!capacity.fits(gpu, request)) {
            leases.askToYield(gpu, request, now, out);
            continue;
          }
        }
        // The grant first: when it cannot be recorded (a full disk) it throws, and the request keeps
        // its place in the queue, so the wait's end (cancelWait) wakes the waiters behind it.
        Lease granted = leases.grant(gpu, request, now, out);
        if (me != null) {
          queue.remove(waiterId);
        }
        return new AcquireResult.Granted(granted);
      }
      if (me == null && waiterId != null && request.waitMs() > 0) {
        queue.add(waiterId, request, now);
      }
      return leases.busy(request, bestPosition, now);
    });
  }

  @Override
  public Future<Void> cancelWait(String waiterId) {
    return step(out -> {
      MemoryWaitQueue.Queued removed = queue.remove(waiterId);
      if (removed != null) {
        out.wakes.addAll(capacity.candidates(removed.request()));
      }
      return null;
    });
  }

  @Override
  public Future<Lease> renew(String tokenHash, Long ttlMs, String by) {
    return step(out -> {
      return leases.renew(tokenHash, ttlMs, by, leases.monoMs(), out);
    });
  }

  @Override
  public Future<Void> note(LeaseEventType type, int gpu, String subject, String detail) {
    return step(out -> {
      out.events.add(leases.note(type, gpu, subject, detail));
      return null;
    });
  }

  @Override
  public Future<Lease> lookup(String tokenHash) {
    return step(out -> {
      long now = leases.monoMs();
      MemoryLease l = leases.byToken(tokenHash);
      if (l == null) {
        throw leases.ended.lostOrUnknown(tokenHash);
      }
      if (l.expiresMono <= now) {
        // Past its expiry, whether or not the reaper has been by: ended now, never shown as held.
        throw StoreException.leaseLost(leases.endExpired(l, now, out), l.leaseId);
      }
      return l.view(now, leases::wall);
    });
  }

  @Override
  public Future<ReleaseResult> release(String tokenHash, String by, String why) {
    return step(out -> {
      long now = leases.monoMs();
      MemoryLease l = leases.byToken(tokenHash);
      if (l == null) {
        StoreException e = leases.ended.lostOrUnknown(tokenHash);
        if (e.kind() == StoreException.Kind.UNKNOWN_LEASE) {
          throw e;
        }
        return new ReleaseResult(false, e.reason(), null);
      }
      if (l.expiresMono <= now) {
        return new ReleaseResult(false, leases.endExpired(l, now, out), null);
      }
      EndReason revoked = l.revoked;
      String who = by != null ? by : l.owner;
      if (revoked != null) {
        leases.end(l, LeaseEventType.REVOKE_CONFIRMED, revoked, who, "the holder stopped and released", now, out);
      } else {
        leases.end(l, LeaseEventType.RELEASED, EndReason.RELEASED, who, why, now, out);
      }
      return new ReleaseResult(true, null, revoked);
    });
  }

  @Override
  public Future<List<Lease>> forceRelease(ForceReleaseSelector sel) {
    return step(out -> {
      long now = leases.monoMs();
      leases.expire(now, out);
      List<MemoryLease> selected = new ArrayList<>();
      for (MemoryLease l : leases.all()) {
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
          leases.end(l, LeaseEventType.FORCE_RELEASED, EndReason.FORCE_RELEASED, sel.by(), sel.reason(), now, out,
              true);
          // Answered as what it became: revoked, and handed on now (its expires_at).
          l.revoked = EndReason.FORCE_RELEASED;
          l.revokedMono = now;
          l.expiresMono = now;
          released.add(l.view(now, leases::wall));
        } else {
          if (l.revoked == null) {
            leases.revoke(l, EndReason.FORCE_RELEASED, sel.by(), sel.reason(), now, out);
          }
          released.add(l.view(now, leases::wall));
        }
      }
      return released;
    });
  }

  @Override
  public Future<Boolean> end(long leaseId, EndReason reason, String by, String detail) {
    return step(out -> {
      MemoryLease l = leases.byId(leaseId);
      if (l != null) {
        leases.end(l, LeaseEventType.of(reason), reason, by, detail, leases.monoMs(), out);
      }
      return l != null;
    });
  }

  @Override
  public Future<List<Lease>> expireDue() {
    return step(out -> {
      long now = leases.monoMs();
      leases.endRecoveryIfDue(now);
      List<Lease> expired = leases.expire(now, out);
      queue.dropAbandoned(now, out.wakes);
      return expired;
    });
  }

  @Override
  public synchronized Future<StoreSnapshot> snapshot() {
    long now = leases.monoMs();
    return Future.succeededFuture(new StoreSnapshot(leases.wall(now), leases.views(now), queue.waiting(now),
        leases.recovering(now) ? leases.wall(leases.recoveringUntil) : null));
  }

  @Override
  public synchronized Future<List<LeaseEvent>> events() {
    return Future.succeededFuture(leases.log.all());
  }

  @Override
  public synchronized Future<Void> close() {
    if (leases.journal != null) {
      leases.journal.close();
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

  // ---- state ----

}
