package io.iqa.sidecar.service;

import io.iqa.client.IqaException;
import io.iqa.client.Lease;
import io.iqa.client.LeaseClient;
import io.iqa.client.LeaseLoss;
import io.iqa.client.LeaseRequest;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sidecar's GPU lease, held through the project's one lease client ({@link LeaseClient}):
 * renewed at ttl/3, revocations heard at once on the watch channel, lost by the holder's own
 * deadline when no renew succeeds. Losses reach {@code onLost} on the verticle's event loop. The
 * token stays inside the client; {@link #status()} shows no secret.
 */
final class SidecarLease {

  private static final Logger LOG = LoggerFactory.getLogger(SidecarLease.class);

  private final Vertx vertx;
  private final JsonObject conf;
  private final LeaseRequest request;
  private final LeaseClient client;
  private final Consumer<LeaseLoss> onLost;
  private Lease lease;
  private String state = "none";
  private String reason;

  SidecarLease(Vertx vertx, SidecarOptions options, Consumer<LeaseLoss> onLost) {
    this.vertx = vertx;
    this.conf = options.broker();
    this.request = options.leaseRequest();
    this.client = new LeaseClient(conf.getString("url"), conf.getString("token"), 0);
    this.onLost = onLost;
  }

  /** Asks for the lease, waiting up to wait_s. Fails with a message that says why none came. */
  Future<Lease> acquire() {
    state = "acquiring";
    return Future.fromCompletionStage(client.acquireAsync(request), vertx.getOrCreateContext())
        .map(l -> {
          lease = l;
          state = "held";
          reason = null;
          LOG.info("lease {} granted on gpu {} by {} (ttl {} s, renewed every {} s, watched)", l.id(), l.gpu(),
              client.brokerUrl(), l.ttl().toMillis() / 1000.0, l.ttl().toMillis() / 3000.0);
          var ctx = vertx.getOrCreateContext();
          l.onLost(loss -> ctx.runOnContext(v -> lost(loss)));
          return l;
        })
        .recover(err -> {
          state = "none";
          Throwable e = err instanceof java.util.concurrent.CompletionException && err.getCause() != null
              ? err.getCause() : err;
          String why = e instanceof IqaException ie && ie.status() == 409
              ? "the GPU stayed busy for wait_s=" + request.waitS() + " (" + e.getMessage() + ")"
              : e instanceof IqaException ie && ie.status() == 0 ? "broker at " + client.brokerUrl() + " unreachable: "
                  + e.getMessage()
              : "the broker refused the lease: " + e.getMessage();
          reason = why;
          return Future.failedFuture(why);
        });
  }

  private void lost(LeaseLoss loss) {
    state = loss.revoked() ? "revoked" : "lost";
    reason = loss.reason() + ": " + loss.message();
    onLost.accept(loss);
  }

  /** @return the time left to finish GPU work already running (this holder's own deadline) */
  Duration remaining() {
    return lease == null ? Duration.ZERO : lease.remaining();
  }

  boolean lost() {
    return state.equals("revoked") || state.equals("lost");
  }

  /** Releases the lease (for a revoked one: the confirmation); never fails. Call once GPU work has stopped. */
  Future<Void> release() {
    Lease l = lease;
    if (l == null) {
      return Future.succeededFuture();
    }
    boolean wasLost = lost();
    return vertx.executeBlocking(() -> {
      l.close();
      return null;
    }, false).<Void>mapEmpty().onComplete(ar -> {
      if (!wasLost) {
        state = "released";
      }
      LOG.info("lease {} released{}", l.id(), wasLost ? " (confirming that the sidecar stopped using the GPU)" : "");
    }).recover(e -> Future.succeededFuture());
  }

  /** @return the lease as /health shows it: no token */
  JsonObject status() {
    JsonObject s = new JsonObject().put("state", state).put("broker", client.brokerUrl());
    if (lease != null) {
      s.put("lease_id", lease.id()).put("gpu", lease.gpu()).put("owner", lease.owner())
          .put("remaining_s", lease.remaining().toMillis() / 1000.0);
    }
    if (reason != null) {
      s.put("reason", reason);
    }
    return s;
  }

  Integer gpu() {
    return lease == null ? null : lease.gpu();
  }

  /** Stops the client (releasing a lease still held). */
  void close() {
    client.close();
  }
}
