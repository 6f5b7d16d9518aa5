package io.iqa.client;

import com.fasterxml.jackson.databind.JsonNode;
import io.iqa.protocol.wire.LeaseRequest;
import io.iqa.protocol.wire.LeaseView;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A granted GPU lease, held until {@link #close()} (use it in try-with-resources). While held it
 * renews itself every ttl/3 and listens on the broker's watch channel. It is lost, and the loss
 * callback runs once, when:
 * <ul>
 *   <li>the broker revokes it (force-release, stale): heard at once on the watch channel, or at the
 *       next renew ({@code 410});</li>
 *   <li>the broker answers {@code 410 lease_lost} or {@code 404 unknown_lease} (a broker restarted
 *       without its state) to a renew;</li>
 *   <li>no renew succeeded before the holder's own deadline: the send time of the last successful
 *       renew (or of the request) plus the ttl, on this process's monotonic clock. The callback runs
 *       a safety margin (a tenth of the ttl, at most 2 s) before that deadline, whatever the broker
 *       answers or fails to answer: the broker's expires_at is never earlier, so the holder has
 *       stopped before anyone else can be granted the GPU.</li>
 * </ul>
 * After a loss stop all GPU work, then call {@link #close()}: its release is the confirmation a
 * revoking broker waits for to hand the GPU on at once (else at the lease's expires_at).
 *
 * <p>A lease requested with {@link LeaseRequest#withYield} is asked to give the GPU back when a
 * request of equal or higher priority waits for it: {@link #onYieldRequested} runs (once). The
 * lease stays valid; finish the work in hand, free the GPU, then {@link #close(String)
 * close("yielded")}. Callbacks run on the client's scheduler thread: keep them short or hand off.
 * Thread-safe.
 */
public final class Lease implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(Lease.class);

  private final Http broker;
  private final ScheduledExecutorService scheduler;
  private final LeaseView granted;
  private final String token;
  private final long ttlNanos;
  private final LeaseRenewal renewal;
  private final LeaseWatch watch;
  private final Runnable onClose;
  private Consumer<LeaseLoss> onLost = loss -> { };
  private LeaseLoss lost;
  private Consumer<String> onYield = why -> { };
  /** Why the broker asked this holder to yield, or null while nobody asked. */
  private String yieldRequested;
  private boolean closed;
  /** The release (or nothing to release): every caller of close() waits for this one. */
  private CompletableFuture<?> released;

  Lease(Http broker, ScheduledExecutorService scheduler, JsonNode granted, long requestSentNanos, Runnable onClose) {
    this.broker = broker;
    this.scheduler = scheduler;
    this.granted = LeaseView.fromMap(Http.map(granted));
    this.token = this.granted.token();
    this.ttlNanos = (long) ((this.granted.ttlS() == null ? 0 : this.granted.ttlS()) * 1e9);
    this.onClose = onClose;
    this.renewal = new LeaseRenewal(broker, scheduler, token, id(), ttlNanos, requestSentNanos, this::lose);
    this.watch = new LeaseWatch(broker, token, id(), gpu(), scheduler, this::lose, this::askedToYield);
  }

  /** Starts renewing, the deadline check and the watch. */
  synchronized Lease start() {
    renewal.start();
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

  /** @return whether the GPU may be used now: not lost, and this holder's own deadline not passed */
  public synchronized boolean valid() {
    return lost == null && !closed && renewal.beforeDeadline();
  }

  /**
   * @return the time left before this holder's own deadline (the last successful renew's send time
   *     plus the ttl, less the safety margin). After a revocation, GPU work already running may finish
   *     within it (the broker hands the GPU on only once this holder releases, or later); new work may
   *     not start. Zero once closed.
   */
  public synchronized Duration remaining() {
    return closed ? Duration.ZERO : renewal.remaining();
  }

  /** Runs {@code callback} once when the lease is lost (at once if it already is). */
  public Lease onLost(Consumer<LeaseLoss> callback) {
    LeaseLoss already;
    synchronized (this) {
      this.onLost = callback;
      already = lost;
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
      already = yieldRequested;
    }
    if (already != null) {
      callback.accept(already);
    }
    return this;
  }

  /** @return the broker's message when it asked this holder to yield, or null */
  public synchronized String yieldRequested() {
    return yieldRequested;
  }

  /** @return why the lease was lost, or null while it is held */
  public synchronized LeaseLoss loss() {
    return lost;
  }

  /** The broker asks this holder to yield (heard on the watch): recorded, and the callback runs once. */
  private void askedToYield(String why) {
    Consumer<String> callback;
    synchronized (this) {
      if (yieldRequested != null || lost != null || closed) {
        return;
      }
      yieldRequested = why;
      callback = onYield;
    }
    LOG.info("GPU lease {}: the broker asks this holder to yield ({})", id(), why);
    callback.accept(why);
  }

  private void lose(LeaseLoss loss) {
    Consumer<LeaseLoss> callback;
    synchronized (this) {
      if (lost != null || closed) {
        return;
      }
      lost = loss;
      renewal.stop();
      callback = onLost;
    }
    watch.close();
    LOG.warn("GPU lease {} lost: {}", id(), loss.message());
    try {
      scheduler.execute(() -> callback.accept(loss));
    } catch (RejectedExecutionException e) {
      callback.accept(loss);
    }
  }

  /**
   * Stops renewing and releases the lease: for a lease being revoked this is the confirmation that
   * lets the broker hand the GPU on at once. Call it only once GPU work has stopped. Idempotent;
   * never throws (an unreachable broker hands the GPU on at expires_at instead).
   */
  @Override
  public void close() {
    close(null);
  }

  /**
   * {@link #close()}, telling the broker why: {@code yielded} after a yield request (recorded in
   * the {@code released} event). {@code why} matches {@code [A-Za-z0-9._ -]{1,64}}, or is null.
   */
  public void close(String why) {
    CompletableFuture<?> release;
    synchronized (this) {
      if (released == null) {
        boolean first = !closed;
        closed = true;
        renewal.stop();
        LeaseLoss was = lost;
        // A lease the broker already ended has nothing to confirm.
        released = !first || was != null && !was.revoked() && !"deadline".equals(was.reason())
            ? CompletableFuture.completedFuture(null)
            : broker.postJson("/v1/gpu/release", releaseBody(why), Duration.ofSeconds(10));
      }
      release = released;
    }
    watch.close();
    onClose.run();
    try {
      // Every caller waits for the one release: a JVM shutting down must not exit before it is sent.
      Http.join(release);
    } catch (RuntimeException e) {
      LOG.warn("releasing lease {} failed: {} (the broker hands it on at its expires_at)", id(), e.getMessage());
    }
  }

  private com.fasterxml.jackson.databind.node.ObjectNode releaseBody(String why) {
    var body = Http.object().put("token", token);
    return why == null ? body : body.put("reason", why);
  }

  /** Stops renewing and watching without releasing (see {@link LeaseClient#halt()}). */
  synchronized void halt() {
    closed = true;
    renewal.stop();
    watch.close();
    onClose.run();
  }

  @Override
  public String toString() {
    LeaseLoss l = loss();
    return "Lease[" + id() + " gpu " + gpu() + " owner " + owner() + (l != null ? " lost: " + l.reason() : "") + "]";
  }
}
