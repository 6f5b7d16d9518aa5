package io.iqa.broker.store.memory;

import io.iqa.broker.gpu.GpuDevice;
import io.iqa.broker.store.AcquireResult;
import io.iqa.broker.store.EndReason;
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
import java.io.IOException;
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
        restore();
      }
      return Future.succeededFuture();
    } catch (StoreException e) {
      return Future.failedFuture(e);
    }
  }

  /**
   * Reads the state file, or decides that there is none to read. A state file that does not exist
   * yet is a first start (nothing can have been granted: grant at once). State that existed and is
   * gone (no state file configured, an empty or unreadable file, a torn snapshot) starts the
   * recovery grace, and so does a start during a grace that had not ended (the file says so): a
   * lease granted before may still be in use. Lease ids go on above every id the file names; after
   * lost state, above the Unix time in seconds as well, so no id is handed out twice.
   */
  private void restore() {
    long now = leases.monoMs();
    LeaseJournal.State state = null;
    String lostWhy = null;
    if (settings.fresh()) {
      LOG.info("--fresh: no lease from an earlier run can be alive; {}", file == null ? "no state file is kept"
          : "the state file " + file.describe() + " starts anew");
    } else if (file == null) {
      lostWhy = "no state_file is configured, so leases granted before this start are unknown";
    } else if (!file.exists()) {
      LOG.info("first start: no lease state file at {} yet; it is created now", file.describe());
    } else {
      try {
        state = LeaseJournal.read(file);
      } catch (java.nio.file.AccessDeniedException e) {
        // Not damage: the file is whole, this user may not read it. Moving it aside would forget its
        // leases; the operator fixes the permissions instead.
        throw new StoreException(StoreException.Kind.UNAVAILABLE, "the lease state file " + file.describe()
            + " exists but this user (" + System.getProperty("user.name") + ") may not read it: fix its permissions "
            + "(the broker keeps its leases there), or name another state_file", null, e);
      } catch (IOException e) {
        lostWhy = "the lease state file " + file.describe() + " cannot be read (" + LeaseJournal.describe(e)
            + "); it was moved to " + moveAside(".unreadable", e);
      }
    }
    List<LeaseJournal.LeaseRecord> kept = new ArrayList<>();
    if (state != null) {
      state.skipped().forEach(s -> LOG.warn("lease state file {}: {}", file.describe(), s));
      for (LeaseJournal.LeaseRecord r : state.leases()) {
        if (!capacity.has(r.gpu())) {
          throw new StoreException(StoreException.Kind.UNAVAILABLE, "the lease state file " + file.describe()
              + " holds lease " + r.id() + " on gpu " + r.gpu() + ", which this broker's gpus do not list");
        }
        leases.put(MemoryLease.restored(r, now, clock.wallMs(), restoreRule));
      }
      state.ended().forEach(leases::remember);
      leases.nextLeaseId = state.nextLeaseId();
      leases.log.nextSeq = state.nextEventSeq();
      if (state.empty()) {
        lostWhy = "the lease state file " + file.describe() + " is empty";
      } else if (state.lost()) {
        lostWhy = "the lease state file " + file.describe() + " is damaged (" + String.join("; ", state.skipped())
            + "); it was moved to " + moveAside(".damaged", null) + " and its readable leases kept";
      } else if (state.recovering()) {
        LOG.warn("the broker stopped during a recovery grace: the grace starts again");
      }
      LOG.info("restored {} lease(s) from {} (next lease_id {}; each gets its full ttl from now)",
          leases.all().size(), file.describe(), leases.nextLeaseId);
    }
    boolean grace = lostWhy != null || state != null && state.recovering();
    if (lostWhy != null) {
      leases.nextLeaseId = Math.max(leases.nextLeaseId, clock.wallMs() / 1000);
    }
    if (grace && settings.recoveryGraceMs() > 0) {
      leases.recoveringUntil = now + settings.recoveryGraceMs();
      LOG.warn("{}: granting nothing until {} (recovery_grace_s={}), in case a lease granted before is still in "
          + "use; lease ids go on from {}. Start with --fresh only when no such lease can be alive.",
          lostWhy != null ? lostWhy : "resuming the recovery grace", leases.wall(leases.recoveringUntil),
          settings.recoveryGraceMs() / 1000, leases.nextLeaseId);
    }
    if (file != null) {
      leases.journal = LeaseJournal.open(file, settings.stateFsync(), leases.nextLeaseId, leases.log.nextSeq,
          leases.recovering(now), leases.records(now), leases.lastEnded(), state != null && !state.lost());
    }
  }

  /**
   * Keeps an unreadable or damaged state file for the operator (a new one is written in its place);
   * if even that fails, the broker cannot keep state and does not start.
   */
  private String moveAside(String what, IOException cause) {
    try {
      return file.moveAside(what + "-" + System.currentTimeMillis());
    } catch (IOException e) {
      throw new StoreException(StoreException.Kind.UNAVAILABLE, "cannot " + (cause == null ? "rewrite the damaged"
          : "read the") + " lease state file " + file.describe() + (cause == null ? "" : " (" + LeaseJournal.describe(cause)
          + ")") + " nor move it aside (" + LeaseJournal.describe(e) + "): fix its permissions, or start with --fresh "
          + "only when no lease granted before can be alive", null, e);
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
        throw leases.lostOrUnknown(tokenHash);
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
        StoreException e = leases.lostOrUnknown(tokenHash);
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
    return Future.succeededFuture(leases.events());
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
