package io.iqa.client;

import com.fasterxml.jackson.databind.JsonNode;
import io.iqa.protocol.wire.LeaseRequest;
import io.iqa.protocol.wire.LeaseView;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.function.Consumer;
import java.util.function.LongConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A granted GPU lease, held until {@link #close()} (use it in try-with-resources). While held it
 * renews itself and listens on the broker's watch channel. It is lost, and the loss callback runs
 * once, when:
 * <ul>
 *   <li>the broker revokes it (force-release, stale): heard at once on the watch channel, or at the
 *       next renew ({@code 410});</li>
 *   <li>the broker answers {@code 410 lease_lost} or {@code 404 unknown_lease} (a broker restarted
 *       without its state) to a renew;</li>
 *   <li>no renew succeeded before the holder's own deadline (never later than the broker's
 *       expires_at: {@link LeaseRules}' deadline rule), whatever the broker answers or fails to
 *       answer. The callback runs a safety margin before it, so the holder has stopped before anyone
 *       else can be granted the GPU.</li>
 * </ul>
 * After a loss stop all GPU work, then call {@link #close()}: its release is the confirmation a
 * revoking broker waits for to hand the GPU on at once (else at the lease's expires_at).
 *
 * <p>A lease requested with {@link LeaseRequest#withYield} is asked to give the GPU back when a
 * request of equal or higher priority waits for it: {@link #onYieldRequested} runs (once). The
 * lease stays valid; finish the work in hand, free the GPU, then {@link #close(String)
 * close("yielded")}.
 *
 * <p>The rules are {@link LeaseRules}; this class is their edge: every answer, watch event and timer
 * becomes an event handled in order on the client's one scheduler thread, where the callbacks run
 * too (keep them short or hand off). Thread-safe.
 */
public final class Lease implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(Lease.class);

  private final LeaseCalls calls;
  private final LeaseScheduler timer;
  private final LeaseView granted;
  private final long ttlNanos;
  private final LeaseRules rules;
  private final LeaseWatch watch;
  private final Runnable onClose;
  private Consumer<LeaseLoss> onLost = loss -> { };
  private Consumer<String> onYield = why -> { };
  private LongConsumer onDeadline = d -> { };
  /** The release (or nothing to release): every caller of close() waits for this one. */
  private CompletableFuture<?> released;

  Lease(Http broker, ScheduledExecutorService scheduler, JsonNode granted, long requestSentNanos, Runnable onClose) {
    this.timer = new LeaseScheduler(scheduler, this::handle);
    this.granted = io.iqa.protocol.wire.WireJson.fromTree(granted, LeaseView.class);
    this.ttlNanos = (long) ((this.granted.ttlS() == null ? 0 : this.granted.ttlS()) * 1e9);
    long queued = this.granted.queuedMs() == null ? 0 : this.granted.queuedMs() * 1_000_000L;
    this.rules = new LeaseRules(id(), requestSentNanos, queued, ttlNanos);
    this.onClose = onClose;
    this.calls = new LeaseCalls(broker, this.granted.token(), ttlNanos);
    this.watch = new LeaseWatch(broker, this.granted, timer);
  }

  /** Starts the rules' timers and the watch. */
  Lease start() {
    List<LeaseRules.Action> first;
    synchronized (this) {
      first = rules.start(System.nanoTime());
    }
    carryOut(first);
    watch.open();
    return this;
  }

  public long id() {
    return granted.leaseId();
  }

  public int gpu() {
    return granted.gpu();
  }

  public String owner() {
    return granted.owner();
  }

  /** @return the VRAM reserved in MB (for a whole-device lease the device's size, 0 when unknown) */
  public int vramMb() {
    return granted.vramMb();
  }

  /** @return true for a whole-device lease */
  public boolean exclusive() {
    return granted.exclusive();
  }

  public Duration ttl() {
    return Duration.ofNanos(ttlNanos);
  }

  /**
   * The environment of a process that may use this lease's GPU and no other: {@code
   * CUDA_VISIBLE_DEVICES} the granted device (numbered as nvidia-smi and the broker number them:
   * {@code CUDA_DEVICE_ORDER=PCI_BUS_ID}), and {@code GPU_LEASE_ID}, by which the broker's observer
   * attributes the process's GPU memory to this lease.
   */
  public Map<String, String> cudaEnv() {
    return Map.of("CUDA_DEVICE_ORDER", "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES", Integer.toString(gpu()),
        "GPU_LEASE_ID", Long.toString(id()));
  }

  /** The environment of a process that must use no GPU: CUDA sees no device at all. */
  public static Map<String, String> noGpuEnv() {
    return Map.of("CUDA_VISIBLE_DEVICES", "");
  }

  /** @return whether the GPU may be used now: not lost, not closed, this holder's own deadline not passed */
  public synchronized boolean valid() {
    return rules.valid(System.nanoTime());
  }

  /**
   * @return the time left before this holder's own deadline, less the safety margin. After a
   *     revocation, GPU work already running may finish within it (the broker hands the GPU on only
   *     once this holder releases, or later); new work may not start. Zero once closed.
   */
  public synchronized Duration remaining() {
    return Duration.ofNanos(rules.remainingNanos(System.nanoTime()));
  }

  /**
   * @return this holder's own deadline less the safety margin, as a {@link System#nanoTime()} value:
   *     for a process of this host that must stop by it on its own (the sidecar's worker)
   */
  public synchronized long stopByNanos() {
    return rules.deadline() - rules.marginNanos();
  }

  /** Runs {@code callback} once when the lease is lost (at once if it already is). */
  public Lease onLost(Consumer<LeaseLoss> callback) {
    LeaseLoss already;
    synchronized (this) {
      this.onLost = callback;
      already = rules.loss();
    }
    if (already != null) {
      callback.accept(already);
    }
    return this;
  }

  /**
   * Runs {@code callback} with the broker's message once when a waiter asks for this GPU (at once if
   * one already has). Only leases requested with {@link LeaseRequest#withYield} or reached by a
   * preempting waiter are asked.
   */
  public Lease onYieldRequested(Consumer<String> callback) {
    String already;
    synchronized (this) {
      this.onYield = callback;
      already = rules.loss() == null && rules.phase() == LeaseRules.Phase.HELD ? rules.yieldMessage() : null;
    }
    if (already != null) {
      callback.accept(already);
    }
    return this;
  }

  /** Runs {@code callback} with {@link #stopByNanos()} each time a renew moves the deadline on. */
  public synchronized Lease onDeadline(LongConsumer callback) {
    this.onDeadline = callback;
    return this;
  }

  /** @return the broker's message when it asked this holder to yield, or null */
  public synchronized String yieldRequested() {
    return rules.yieldMessage();
  }

  /** @return why the lease was lost, or null while it is held */
  public synchronized LeaseLoss loss() {
    return rules.loss();
  }

  private void handle(LeaseRules.Event e) {
    List<LeaseRules.Action> actions;
    synchronized (this) {
      actions = rules.handle(e);
      for (LeaseRules.Action a : actions) {
        if (a instanceof LeaseRules.SendRelease r) {
          // Sent under the lock, so that every caller of close() finds this one release to wait for.
          released = calls.release(r.reason());
        }
      }
    }
    carryOut(actions);
  }

  private void carryOut(List<LeaseRules.Action> actions) {
    for (LeaseRules.Action a : actions) {
      if (a instanceof LeaseRules.WakeAt w) {
        timer.wakeAt(w.at());
      } else if (a instanceof LeaseRules.SendRenew r) {
        calls.renew(r).thenAccept(e -> {
          if (e instanceof LeaseRules.RenewFailed f) {
            LOG.warn("renewing lease {} failed ({}); retrying, and stopping by its own deadline in {} ms", id(),
                f.why(), remaining().toMillis());
          }
          timer.submit(e);
        });
      } else if (a instanceof LeaseRules.Lost l) {
        LOG.warn("GPU lease {} lost: {}", id(), l.loss().message());
        timer.cancel();
        callback(() -> onLost.accept(l.loss()));
      } else if (a instanceof LeaseRules.YieldRequested y) {
        LOG.info("GPU lease {}: the broker asks this holder to yield ({})", id(), y.message());
        callback(() -> onYield.accept(y.message()));
      } else if (a instanceof LeaseRules.Deadline) {
        long stopBy = stopByNanos();
        callback(() -> onDeadline.accept(stopBy));
      } else if (a instanceof LeaseRules.CloseWatch) {
        watch.close();
      }
    }
  }

  private void callback(Runnable call) {
    try {
      call.run();
    } catch (RuntimeException e) {
      LOG.warn("a callback of GPU lease {} failed: {}", id(), e.toString());
    }
  }

  /**
   * Stops renewing and releases the lease: for a lease being revoked this is the confirmation that
   * lets the broker hand the GPU on at once. Call it only once GPU work has stopped. Idempotent;
   * never throws (an unreachable broker hands the GPU on at expires_at instead).
   */
  private volatile Boolean releaseConfirmed;

  @Override
  public void close() {
    close(null);
  }

  /**
   * {@link #close()}, telling the broker why: {@code yielded} after a yield request (recorded in
   * the {@code released} event). {@code why} matches {@code [A-Za-z0-9._ -]{1,64}}, or is null.
   */
  public void close(String why) {
    // Handled here, not queued: close() may be called from a callback on the scheduler thread, and a
    // JVM shutting down must not exit before the release is sent.
    handle(new LeaseRules.Close(System.nanoTime(), why));
    timer.cancel();
    onClose.run();
    CompletableFuture<?> release;
    synchronized (this) {
      release = released;
    }
    if (release == null) {
      return;
    }
    try {
      Http.join(release);
      releaseConfirmed = true;
    } catch (RuntimeException e) {
      releaseConfirmed = false;
      LOG.warn("releasing lease {} failed: {} (the broker hands it on at its expires_at)", id(), e.getMessage());
    }
  }

  /**
   * @return after {@link #close()}: true when the broker answered the release, false when it could not
   *     be sent or failed (the broker then hands the GPU on at expires_at); null before, or when no
   *     release was due
   */
  public Boolean releaseConfirmed() {
    return releaseConfirmed;
  }

  /** Stops renewing and watching without releasing (see {@link LeaseClient#halt()}). */
  void halt() {
    handle(new LeaseRules.Halt(System.nanoTime()));
    timer.cancel();
    onClose.run();
  }

  @Override
  public String toString() {
    LeaseLoss l = loss();
    return "Lease[" + id() + " gpu " + gpu() + " owner " + owner() + (l != null ? " lost: " + l.reason() : "") + "]";
  }
}
