package io.iqa.holder;

import io.iqa.client.IqaException;
import io.iqa.client.Lease;
import io.iqa.client.LeaseClient;
import io.iqa.client.LeaseLoss;
import io.iqa.protocol.wire.LeaseRequest;
import io.iqa.protocol.wire.WireNames;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.LongConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A holder's GPU lease (the sidecar's, a front's), held through the project's one lease client
 * ({@link LeaseClient}): taken when work needs the GPU, released when the worker has stopped (or
 * the model server is asleep), taken again for the next work. While held it renews at ttl/3 and hears revocations and yield requests at once on the
 * watch channel. Losses and yield requests reach their callbacks on the front's event loop. The
 * token stays inside the client; {@link #status()} shows no secret.
 */
public final class HolderLease {

  private static final Logger LOG = LoggerFactory.getLogger(HolderLease.class);

  /** What /health shows. */
  public enum State { NONE, ACQUIRING, HELD, RELEASED, REVOKED, LOST }

  private final Vertx vertx;
  private final Context context;
  private final LeaseRequest request;
  private final LeaseClient client;
  private final Consumer<LeaseLoss> onLost;
  private final Consumer<String> onYield;
  private final LongConsumer onDeadline;
  private Lease lease;
  private State state = State.NONE;
  private String reason;

  /** @param onDeadline each renew's new time to stop by ({@link Lease#stopByNanos()}), on the event loop */
  public HolderLease(Vertx vertx, String brokerUrl, String token, LeaseRequest request, Consumer<LeaseLoss> onLost,
      Consumer<String> onYield, LongConsumer onDeadline) {
    this.vertx = vertx;
    this.context = vertx.getOrCreateContext();
    this.request = request;
    this.client = new LeaseClient(brokerUrl, token, 0);
    this.onLost = onLost;
    this.onYield = onYield;
    this.onDeadline = onDeadline;
  }

  /**
   * Asks for the lease, waiting up to {@code waitS} (the configured {@code lease.wait_s} when
   * null). Fails with a message that says why none came.
   */
  public Future<Lease> acquire(Double waitS) {
    state = State.ACQUIRING;
    LeaseRequest r = waitS == null ? request : request.withWait(waitS);
    return Future.fromCompletionStage(client.acquireAsync(r), context)
        .map(l -> {
          lease = l;
          state = State.HELD;
          reason = null;
          LOG.info("lease {} granted on gpu {} by {} (ttl {} s, renewed every {} s, watched{})", l.id(), l.gpu(),
              client.brokerUrl(), l.ttl().toMillis() / 1000.0, l.ttl().toMillis() / 3000.0,
              request.yieldable() ? ", yields when asked" : "");
          l.onLost(loss -> context.runOnContext(v -> lost(l, loss)));
          l.onYieldRequested(why -> context.runOnContext(v -> {
            if (lease == l && state == State.HELD) {
              onYield.accept(why);
            }
          }));
          l.onDeadline(stopBy -> context.runOnContext(v -> {
            if (lease == l && state == State.HELD) {
              onDeadline.accept(stopBy);
            }
          }));
          return l;
        })
        .recover(err -> {
          state = State.NONE;
          Throwable e = err instanceof java.util.concurrent.CompletionException && err.getCause() != null
              ? err.getCause() : err;
          String why = e instanceof IqaException ie && ie.status() == 409
              ? "the GPU stayed busy for wait_s=" + r.waitS() + " (" + e.getMessage() + ")"
              : e instanceof IqaException ie && ie.status() == 0 ? "broker at " + client.brokerUrl() + " unreachable: "
                  + e.getMessage()
              : "the broker refused the lease: " + e.getMessage();
          reason = why;
          return Future.failedFuture(why);
        });
  }

  private void lost(Lease l, LeaseLoss loss) {
    if (lease != l) {
      return;
    }
    state = loss.revoked() ? State.REVOKED : State.LOST;
    reason = loss.reason().wireName() + ": " + loss.message();
    onLost.accept(loss);
  }

  /** @return the time left to finish GPU work already running (this holder's own deadline) */
  public Duration remaining() {
    return lease == null ? Duration.ZERO : lease.remaining();
  }

  public boolean held() {
    return state == State.HELD;
  }

  /** @return the environment of a worker that may use this lease's GPU only */
  public Map<String, String> workerEnv() {
    return lease.cudaEnv();
  }

  /** @return the lease held now, or null */
  public Long id() {
    return lease == null ? null : lease.id();
  }

  public String brokerUrl() {
    return client.brokerUrl();
  }

  public Integer gpu() {
    return lease == null ? null : lease.gpu();
  }

  /**
   * Releases the lease (for a revoked one: the confirmation) with {@code why} for the broker's
   * event ({@code yielded}, {@code idle}, or null); never fails. Call once the worker has exited (or
   * the server is asleep).
   */
  public Future<Void> release(String why) {
    Lease l = lease;
    if (l == null) {
      return Future.succeededFuture();
    }
    boolean wasLost = state == State.REVOKED || state == State.LOST;
    return vertx.executeBlocking(() -> {
      l.close(why);
      return null;
    }, false).<Void>mapEmpty().onComplete(ar -> {
      if (lease == l) {
        lease = null;
        if (!wasLost) {
          state = State.RELEASED;
          reason = why;
        }
      }
      LOG.info("lease {} released{}", l.id(), wasLost ? " (confirming that the sidecar stopped using the GPU)"
          : why == null ? "" : " (" + why + ")");
    }).recover(e -> Future.succeededFuture());
  }

  /** @return the lease as /health shows it: no token */
  public JsonObject status() {
    JsonObject s = new JsonObject().put("state", WireNames.of(state))
        .put("broker", client.brokerUrl()).put("yield", request.yieldable());
    if (lease != null) {
      s.put("lease_id", lease.id()).put("gpu", lease.gpu()).put("owner", lease.owner())
          .put("remaining_s", lease.remaining().toMillis() / 1000.0);
    }
    if (reason != null) {
      s.put("reason", reason);
    }
    return s;
  }

  /** Stops the client (releasing a lease still held). */
  public void close() {
    client.close();
  }
}
