package io.iqa.client;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@link Lease}'s renew loop and its holder's own deadline: renews every ttl/3 (sooner after a
 * failed renew) and reports a loss when the broker refuses a renew or the deadline, less the safety
 * margin, comes without a successful renew. Stops for good at {@link #stop()}.
 */
final class LeaseRenewal {

  private static final Logger LOG = LoggerFactory.getLogger(LeaseRenewal.class);

  private final Http broker;
  private final ScheduledExecutorService scheduler;
  private final String token;
  private final long leaseId;
  private final long ttlNanos;
  private final long marginNanos;
  private final Consumer<LeaseLoss> onLoss;
  private long deadlineNanos;
  private boolean stopped;
  private ScheduledFuture<?> renewTask;
  private ScheduledFuture<?> deadlineTask;

  LeaseRenewal(Http broker, ScheduledExecutorService scheduler, String token, long leaseId, long ttlNanos,
      long requestSentNanos, Consumer<LeaseLoss> onLoss) {
    this.broker = broker;
    this.scheduler = scheduler;
    this.token = token;
    this.leaseId = leaseId;
    this.ttlNanos = ttlNanos;
    this.marginNanos = Math.min(ttlNanos / 10, 2_000_000_000L);
    this.deadlineNanos = requestSentNanos + ttlNanos;
    this.onLoss = onLoss;
  }

  /** Starts renewing and the deadline check. */
  synchronized void start() {
    scheduleRenew(ttlNanos / 3);
    scheduleDeadlineCheck();
  }

  /** @return whether this holder's own deadline, less the safety margin, is still ahead */
  synchronized boolean beforeDeadline() {
    return System.nanoTime() < deadlineNanos - marginNanos;
  }

  /** @return the time left before this holder's own deadline, less the safety margin */
  synchronized Duration remaining() {
    return Duration.ofNanos(Math.max(0, deadlineNanos - marginNanos - System.nanoTime()));
  }

  /** Stops renewing and checking the deadline (the lease is lost, closed or halted). */
  synchronized void stop() {
    stopped = true;
    cancelTasks();
  }

  private void renew() {
    long sent = System.nanoTime();
    synchronized (this) {
      if (stopped) {
        return;
      }
    }
    Duration timeout = Duration.ofNanos(Math.max(100_000_000L, Math.min(ttlNanos / 3, deadlineNanos - sent)));
    broker.postJson("/v1/gpu/renew", Http.object().put("token", token), timeout).whenComplete((r, e) -> {
      if (e == null && r.status() == 200) {
        renewed(sent, r.body());
      } else if (e == null && (r.status() == 410 || r.status() == 404)) {
        String reason = r.status() == 404 ? "unknown_lease" : r.body().path("reason").asText("lease_lost");
        onLoss.accept(new LeaseLoss(reason, r.body().path("message").asText(reason), LeaseLoss.isRevocation(reason)));
      } else {
        String why = e != null ? String.valueOf(e.getCause() != null ? e.getCause().getMessage() : e.getMessage())
            : r.status() + " " + r.body().path("message").asText();
        LOG.warn("renewing lease {} failed ({}); retrying, and stopping by its own deadline in {} ms", leaseId, why,
            Math.max(0, (deadlineNanos - marginNanos - System.nanoTime()) / 1_000_000));
        synchronized (this) {
          scheduleRenew(Math.min(ttlNanos / 10, 1_000_000_000L));
        }
      }
    });
  }

  private synchronized void renewed(long sentNanos, JsonNode answer) {
    if (stopped) {
      return;
    }
    long ttl = (long) (answer.path("ttl_s").asDouble(ttlNanos / 1e9) * 1e9);
    deadlineNanos = Math.max(deadlineNanos, sentNanos + ttl);
    scheduleRenew(ttlNanos / 3);
    scheduleDeadlineCheck();
  }

  private void checkDeadline() {
    synchronized (this) {
      if (stopped || System.nanoTime() < deadlineNanos - marginNanos) {
        return;
      }
    }
    onLoss.accept(new LeaseLoss("deadline", "no renew of lease " + leaseId + " succeeded within its ttl of "
        + ttlNanos / 1e9 + " s: stopping by the holder's own deadline", false));
  }

  private void scheduleRenew(long inNanos) {
    if (renewTask != null) {
      renewTask.cancel(false);
    }
    renewTask = schedule(this::renew, inNanos);
  }

  private void scheduleDeadlineCheck() {
    if (deadlineTask != null) {
      deadlineTask.cancel(false);
    }
    deadlineTask = schedule(this::checkDeadline, deadlineNanos - marginNanos - System.nanoTime());
  }

  private ScheduledFuture<?> schedule(Runnable task, long inNanos) {
    try {
      return scheduler.schedule(task, Math.max(0, inNanos), TimeUnit.NANOSECONDS);
    } catch (RejectedExecutionException e) {
      return null;
    }
  }

  private void cancelTasks() {
    if (renewTask != null) {
      renewTask.cancel(false);
    }
    if (deadlineTask != null) {
      deadlineTask.cancel(false);
    }
  }
}
