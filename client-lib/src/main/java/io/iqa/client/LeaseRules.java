package io.iqa.client;

import io.iqa.protocol.wire.EndReason;
import java.util.ArrayList;
import java.util.List;

/**
 * The holder's rules for one granted lease, without I/O (the sans-I/O style of h11 or
 * quinn-proto): a {@link Lease} feeds it events with the time they happened and carries out the
 * actions it returns; the simulator drives it the same way on a virtual clock. Times are nanoseconds
 * on the holder's monotonic clock.
 *
 * <p>The deadline rule: the holder's own deadline is never later than the broker's {@code expires_at}
 * and not much earlier. A grant counts from the request's send time plus the time the broker says it
 * held the request ({@code queued_ms}: the broker granted no sooner than that after the request
 * left), plus the ttl; a renew from its send time plus the ttl (the broker renewed no sooner than it
 * was sent). A renew is sent when two thirds of the ttl remain before that deadline, so a grant that
 * waited renews at the same point of its life as one that did not. No renew succeeding, the lease is
 * lost a margin (a tenth of the ttl, at most 2 s) before the deadline, whatever the broker answers or
 * fails to answer.
 *
 * <p>The table, (phase, event) to (phase, actions):
 * <pre>
 * start (the grant)                                  Deadline, then as a Tick (a grant that came too late: LOST)
 * HELD   Tick          deadline - margin passed        LOST   Lost(deadline), CloseWatch
 *                      renew due, none in flight       HELD   SendRenew, WakeAt
 *                      else                            HELD   WakeAt
 * HELD   RenewOk       deadline = max(deadline, sent + ttl)    HELD   Deadline, WakeAt
 * HELD   RenewRefused  404 unknown_lease / 410 lease_lost      LOST   Lost(reason), CloseWatch
 * HELD   RenewFailed   (no answer, 5xx)                HELD   WakeAt (retry soon)
 * HELD   Revoked       (watch)                         LOST   Lost(revoked), CloseWatch
 * HELD   Ended         (watch: the lease holds nothing) LOST  Lost(reason), CloseWatch
 * HELD   YieldAsked    (watch; once)                   HELD   YieldRequested
 * HELD   Close         (the holder is done)            CLOSED CloseWatch, SendRelease
 * LOST   Close                                         CLOSED SendRelease when the broker waits for it
 *                                                             (a revocation) or may not know (deadline)
 * any    Halt          (the holder process dies)       CLOSED CloseWatch
 * LOST, CLOSED: every other event is ignored.
 * </pre>
 */
public final class LeaseRules {

  /** Where the lease stands. */
  public enum Phase { HELD, LOST, CLOSED }

  /** What happened, with the time it happened ({@code now}). */
  public sealed interface Event {
    long now();
  }

  /** A timer the rules asked for ({@link WakeAt}) fired. */
  public record Tick(long now) implements Event {
  }

  /** A renew sent at {@code sentAt} was answered 200 with the lease's ttl. */
  public record RenewOk(long now, long sentAt, long ttlNanos) implements Event {
  }

  /** A renew was answered 404 (the broker does not know the lease) or 410 ({@code reason}). */
  public record RenewRefused(long now, EndReason reason, String message) implements Event {
  }

  /** A renew got no usable answer (unreachable, timed out, 5xx). */
  public record RenewFailed(long now, String why) implements Event {
  }

  /** The watch channel says the lease is revoked ({@code force_released}, {@code stale}). */
  public record Revoked(long now, EndReason reason, String message) implements Event {
  }

  /** The watch channel says the lease has ended (or answered 404/410). */
  public record Ended(long now, EndReason reason) implements Event {
  }

  /** The watch channel says a waiter asks this holder to yield. */
  public record YieldAsked(long now, String message) implements Event {
  }

  /** The holder is done with the GPU: release ({@code reason} for the broker's event, or null). */
  public record Close(long now, String reason) implements Event {
  }

  /** The holder stops as if its process died: nothing more is sent. */
  public record Halt(long now) implements Event {
  }

  /** What the driver must do. */
  public sealed interface Action {
  }

  /** POST /v1/gpu/renew; its answer is {@link RenewOk}, {@link RenewRefused} or {@link RenewFailed}. */
  public record SendRenew(long sentAt, long timeoutNanos) implements Action {
  }

  /** POST /v1/gpu/release with {@code reason} (or none). */
  public record SendRelease(String reason) implements Action {
  }

  /** Call {@link Tick} at {@code at} (replaces any earlier wake-up). */
  public record WakeAt(long at) implements Action {
  }

  /** The lease is lost: tell the holder, who stops GPU work and then closes. */
  public record Lost(LeaseLoss loss) implements Action {
  }

  /** A waiter asks for the GPU: tell the holder (once). */
  public record YieldRequested(String message) implements Action {
  }

  /** The holder's deadline moved to {@code deadline} (after a renew): for whoever it hands on to. */
  public record Deadline(long deadline) implements Action {
  }

  /** Stop listening on the watch channel. */
  public record CloseWatch() implements Action {
  }

  private final long leaseId;
  private final long ttl;
  private final long margin;
  private Phase phase = Phase.HELD;
  private long deadline;
  private long renewAt;
  /** Send time of the renew in flight, or -1. */
  private long renewSentAt = -1;
  private LeaseLoss loss;
  private String yieldMessage;

  /**
   * A lease just granted.
   *
   * @param sentAt when the lease request was sent
   * @param queuedNanos how long the broker says it held the request ({@code queued_ms}; 0 when it did not say)
   * @param ttlNanos the lease's ttl
   */
  public LeaseRules(long leaseId, long sentAt, long queuedNanos, long ttlNanos) {
    this.leaseId = leaseId;
    this.ttl = ttlNanos;
    this.margin = Math.min(ttlNanos / 10, 2_000_000_000L);
    this.deadline = sentAt + Math.max(0, queuedNanos) + ttlNanos;
    this.renewAt = renewDue();
  }

  /** @return the first actions, once granted: the deadline, and a first tick (a grant that came too late is lost at once) */
  public List<Action> start(long now) {
    // As a tick: a grant whose answer came after its deadline is lost before the holder sees it.
    List<Action> out = new ArrayList<>();
    out.add(new Deadline(deadline));
    tick(now, out);
    return out;
  }

  /** @return what to do about {@code e} */
  public List<Action> handle(Event e) {
    List<Action> out = new ArrayList<>();
    if (e instanceof Halt) {
      if (phase != Phase.CLOSED) {
        phase = Phase.CLOSED;
        out.add(new CloseWatch());
      }
      return out;
    }
    switch (phase) {
      case HELD -> held(e, out);
      case LOST -> {
        if (e instanceof Close c) {
          phase = Phase.CLOSED;
          // The broker waits for this release to hand a revoked GPU on; after a deadline loss it may
          // not know the holder stopped. A lease it already ended has nothing to confirm.
          if (loss.revoked() || loss.reason() == EndReason.DEADLINE) {
            out.add(new SendRelease(c.reason()));
          }
        }
      }
      case CLOSED -> {
        // nothing more
      }
    }
    return out;
  }

  private void held(Event e, List<Action> out) {
    if (e instanceof Tick t) {
      tick(t.now(), out);
    } else if (e instanceof RenewOk ok) {
      renewSentAt = -1;
      deadline = Math.max(deadline, ok.sentAt() + ok.ttlNanos());
      renewAt = renewDue();
      out.add(new Deadline(deadline));
      tick(ok.now(), out);
    } else if (e instanceof RenewRefused r) {
      lose(new LeaseLoss(r.reason(), r.message(), r.reason().revokes()), out);
    } else if (e instanceof RenewFailed f) {
      renewSentAt = -1;
      renewAt = f.now() + Math.min(ttl / 10, 1_000_000_000L);
      tick(f.now(), out);
    } else if (e instanceof Revoked r) {
      lose(new LeaseLoss(r.reason(), r.message(), true), out);
    } else if (e instanceof Ended end) {
      lose(new LeaseLoss(end.reason(), "lease " + leaseId + " ended: " + end.reason().wireName(),
          end.reason().revokes()), out);
    } else if (e instanceof YieldAsked y) {
      if (yieldMessage == null) {
        yieldMessage = y.message();
        out.add(new YieldRequested(y.message()));
      }
    } else if (e instanceof Close c) {
      phase = Phase.CLOSED;
      out.add(new CloseWatch());
      out.add(new SendRelease(c.reason()));
    }
  }

  private void tick(long now, List<Action> out) {
    if (now >= deadline - margin) {
      lose(new LeaseLoss(EndReason.DEADLINE, "no renew of lease " + leaseId + " succeeded within its ttl of "
          + ttl / 1e9 + " s: stopping by the holder's own deadline", false), out);
      return;
    }
    if (now >= renewAt && renewSentAt < 0) {
      renewSentAt = now;
      out.add(new SendRenew(now, Math.max(100_000_000L, Math.min(ttl / 3, deadline - now))));
    }
    out.add(new WakeAt(nextWake()));
  }

  private void lose(LeaseLoss why, List<Action> out) {
    phase = Phase.LOST;
    loss = why;
    out.add(new Lost(why));
    out.add(new CloseWatch());
  }

  /** Two thirds of the ttl left before the deadline: whatever the grant's wait, the same point of its life. */
  private long renewDue() {
    return deadline - 2 * ttl / 3;
  }

  private long nextWake() {
    long lossAt = deadline - margin;
    return renewSentAt >= 0 ? lossAt : Math.min(renewAt, lossAt);
  }

  public Phase phase() {
    return phase;
  }

  /** @return whether the GPU may be used at {@code now}: held, and the deadline less the margin not passed */
  public boolean valid(long now) {
    return phase == Phase.HELD && now < deadline - margin;
  }

  /** @return the time left at {@code now} before the deadline less the margin (0 when closed) */
  public long remainingNanos(long now) {
    return phase == Phase.CLOSED ? 0 : Math.max(0, deadline - margin - now);
  }

  /** @return the holder's own deadline (the broker's expires_at is never earlier) */
  public long deadline() {
    return deadline;
  }

  public long marginNanos() {
    return margin;
  }

  /** @return why the lease was lost, or null */
  public LeaseLoss loss() {
    return loss;
  }

  /** @return the broker's message when it asked this holder to yield, or null */
  public String yieldMessage() {
    return yieldMessage;
  }
}
