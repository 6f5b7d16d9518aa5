package io.iqa.broker.store;

import io.iqa.protocol.wire.EndReason;
import io.iqa.broker.gpu.GpuDevice;
import io.vertx.core.Future;
import java.util.List;

/**
 * Where lease state lives. Every method is one atomic step against the backing store and returns a
 * {@link Future}; a store failure fails the future with a {@link StoreException}. Times (expiry,
 * age, staleness) are measured on the store's own monotonic clock, so every broker sharing a store
 * agrees on them.
 *
 * <p>Revocation: a force-release (unless immediate) and a stale release do not free the lease's
 * capacity at once. The lease turns <em>revoking</em>: renewals fail with {@code LEASE_LOST}, the
 * holder is told through the events, and the capacity is freed when the holder releases
 * (confirms) or the lease's expires_at passes, whichever comes first. So a holder that has not yet
 * heard of its revocation never overlaps with the next grant.
 *
 * <p>Recovery: a store that starts without its lease state (no state file, a lost one, a Redis that
 * lost its data) grants nothing for {@link StoreSettings#recoveryGraceMs()} unless
 * {@link StoreSettings#fresh()}: a lease granted before may still be in use.
 */
public interface LeaseStore {

  /** @return the store's type as shown in status and health: {@code memory}, {@code redis} */
  String type();

  /** Connects (where there is something to connect to), restores state, registers the devices. */
  Future<Void> start(List<GpuDevice> devices, StoreListener listener);

  /**
   * One atomic acquire attempt: ends expired leases, drops abandoned waiters, revokes stale leases
   * that block this request, asks yieldable holders that block a waiting request to yield
   * ({@code yield_requested}, once per lease), then grants if the request fits and no earlier
   * waiter is ahead of it.
   * When not granted and {@code waiterId} is not null, the request is queued under that id (or keeps
   * its place when already queued) until {@link #cancelWait} or its wait runs out.
   */
  Future<AcquireResult> acquire(AcquireRequest request, String waiterId);

  /**
   * Tells the store that this broker still serves these queued requests. A store shared by
   * several brokers drops queued requests that are not touched in time (their broker died), so
   * they do not block the queue until their {@code wait_s} runs out.
   */
  default Future<Void> touchWaiters(List<String> waiterIds) {
    return Future.succeededFuture();
  }

  /** Removes a queued request; does nothing if it is not queued. */
  Future<Void> cancelWait(String waiterId);

  /**
   * Extends the lease behind {@code tokenHash} by {@code ttlMs} from now (its own ttl when null);
   * {@code by} is who asked, recorded in the event.
   * Fails with {@code LEASE_LOST} when it has ended or is being revoked, {@code UNKNOWN_LEASE} when
   * never known.
   */
  Future<Lease> renew(String tokenHash, Long ttlMs, String by);

  /**
   * Releases the lease behind {@code tokenHash} (for a revoking lease: the holder's confirmation);
   * idempotent. Fails with {@code UNKNOWN_LEASE}. {@code by} is who asked, {@code why} the holder's
   * reason ({@code yielded}, or null), both recorded in the event.
   */
  Future<ReleaseResult> release(String tokenHash, String by, String why);

  /**
   * Records an event about a GPU rather than a lease ({@code lease_id} 0, {@code by} broker), such
   * as {@code unleased_gpu_use}: {@code subject} goes in {@code owner}, {@code detail} in {@code reason}.
   */
  Future<Void> note(LeaseEventType type, int gpu, String subject, String detail);

  /** The live lease (held or revoking) behind {@code tokenHash}; fails like {@link #renew}. */
  Future<Lease> lookup(String tokenHash);

  /** Revokes the selected leases (or ends them at once when immediate); atomic for the whole selection. */
  Future<List<Lease>> forceRelease(ForceReleaseSelector selector);

  /** Ends one lease at once for a reason the broker decided (e.g. {@code holder_exited}); no-op if already gone. */
  Future<Boolean> end(long leaseId, EndReason reason, String by, String detail);

  /** Ends every lease whose ttl ran out (revoking ones included). @return the leases ended */
  Future<List<Lease>> expireDue();

  /** Every lease and waiter now. */
  Future<StoreSnapshot> snapshot();

  /** The most recent events, oldest first. */
  Future<List<LeaseEvent>> events();

  /** Releases connections, timers and files. Leases stay in a persistent store. */
  Future<Void> close();
}
