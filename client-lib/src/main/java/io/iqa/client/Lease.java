package io.iqa.client;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A granted GPU lease that renews itself at ttl/3 until {@link #close()} releases it (use it in
 * try-with-resources). If the broker ends it (force-release, expiry, stale), the loss callback
 * runs once, within one renew period, with the broker's reason. Thread-safe.
 */
public final class Lease implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(Lease.class);

  private final Http broker;
  private final JsonNode granted;
  private final String token;
  private final ScheduledFuture<?> renewal;
  private volatile Consumer<String> onLost = reason -> { };
  private volatile String lostReason;
  private volatile boolean closed;

  Lease(Http broker, JsonNode granted, ScheduledExecutorService scheduler) {
    this.broker = broker;
    this.granted = granted;
    this.token = granted.path("token").asText();
    long every = Math.max(100, (long) (granted.path("ttl_s").asDouble() * 1000 / 3));
    this.renewal = scheduler.scheduleAtFixedRate(this::renew, every, every, TimeUnit.MILLISECONDS);
  }

  public long id() {
    return granted.path("lease_id").asLong();
  }

  public int gpu() {
    return granted.path("gpu").asInt();
  }

  public String owner() {
    return granted.path("owner").asText();
  }

  /** Runs {@code callback} with the reason when the broker takes the lease away (at most once). */
  public Lease onLost(Consumer<String> callback) {
    this.onLost = callback;
    if (lostReason != null) {
      callback.accept(lostReason);
    }
    return this;
  }

  /** @return why the lease was lost, or null while it is held */
  public String lostReason() {
    return lostReason;
  }

  private void renew() {
    if (closed || lostReason != null) {
      return;
    }
    try {
      Http.Reply r = Http.join(broker.postJson("/v1/gpu/renew", Http.object().put("token", token)));
      if (r.status() == 410) {
        lost(r.body().path("reason").asText("lease_lost"));
      } else if (r.status() != 200) {
        LOG.warn("renewing lease {} failed: {} {}", id(), r.status(), r.body().path("message").asText());
      }
    } catch (IqaException e) {
      LOG.warn("renewing lease {} failed: {} (will retry)", id(), e.getMessage());
    }
  }

  private void lost(String reason) {
    lostReason = reason;
    renewal.cancel(false);
    LOG.warn("GPU lease {} lost: {}", id(), reason);
    onLost.accept(reason);
  }

  /** Stops renewing and releases the lease (idempotent; a lease already lost is not released again). */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    renewal.cancel(false);
    if (lostReason == null) {
      try {
        Http.join(broker.postJson("/v1/gpu/release", Http.object().put("token", token)));
      } catch (IqaException e) {
        LOG.warn("releasing lease {} failed: {} (it expires after its ttl)", id(), e.getMessage());
      }
    }
  }

  @Override
  public String toString() {
    return "Lease[" + id() + " gpu " + gpu() + " owner " + owner() + (lostReason != null ? " lost: " + lostReason : "")
        + "]";
  }
}
