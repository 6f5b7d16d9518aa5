package io.iqa.broker.http;

import io.iqa.broker.store.Lease;
import io.iqa.broker.store.LeaseEvent;
import io.iqa.broker.store.LeaseStore;
import io.iqa.broker.store.StoreException;
import io.iqa.protocol.Sha256;
import io.iqa.protocol.wire.WatchEvent;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code GET /v1/gpu/lease/watch} with header {@code Lease-Token: TOKEN}: the holder's channel, a
 * server-sent event stream that tells it at once what happens to its lease. Events: {@code lease}
 * (the state when the stream opens), {@code revoked} (stop using the GPU, then release: the GPU is
 * handed on at that moment, or at {@code handoff_at} at the latest), {@code yield_requested} (a
 * waiter wants this GPU and the lease offered to yield: release it when convenient, with reason
 * {@code yielded}; the lease stays valid until then), {@code ended} (the lease no
 * longer holds anything; the stream ends). Driven by the store's events, so a revocation through
 * any broker sharing the store reaches the holder; after a gap in those events every watched lease
 * is read again ({@link #resync}). An unknown token answers 404, an ended lease 410, as renew does.
 */
public final class WatchApi {

  public static final String HEADER = "Lease-Token";

  private final LeaseStore store;
  private final SseHub hub;
  private final Map<Long, List<Watch>> watches = new HashMap<>();

  private record Watch(String tokenHash, HttpServerResponse response) {
  }

  public WatchApi(LeaseStore store, SseHub hub) {
    this.store = store;
    this.hub = hub;
  }

  public void watch(RoutingContext ctx) {
    String token = ctx.request().getHeader(HEADER); // there, 1 to 256 characters: the document checked it
    String hash = Sha256.hex(token.trim());
    store.lookup(hash).onSuccess(lease -> {
      if (ctx.response().closed()) {
        return;
      }
      Watch w = new Watch(hash, ctx.response());
      if (hub.open(ctx, "lease " + lease.leaseId(), () -> forget(lease.leaseId(), w)) == null) {
        return; // over the stream budget: refused
      }
      watches.computeIfAbsent(lease.leaseId(), id -> new ArrayList<>()).add(w);
      hub.send(w.response, WatchEvent.LEASE, null, lease.toHolderJson(null, null));
      if (lease.revoking()) {
        hub.send(w.response, WatchEvent.REVOKED, null, revoked(lease.leaseId(), lease.revoked().wireName(), null,
            null, false, lease.expiresAt().toString()));
      } else {
        if (lease.yieldRequestedAt() != null) {
          hub.send(w.response, WatchEvent.YIELD_REQUESTED, null, yieldRequested(lease.leaseId(), null, askedEarlier(lease)));
        }
        // An event published between the lookup and this registration (another broker's, over pub/sub)
        // reached nobody: one more look closes that window.
        recheck(lease.leaseId(), w, lease.yieldRequestedAt() != null);
      }
    }).onFailure(ctx::fail);
  }

  /** A store event: tells the lease's watchers, and ends their streams once it holds nothing. */
  public void onEvent(LeaseEvent e) {
    List<Watch> list = watches.get(e.leaseId());
    if (list == null) {
      return;
    }
    for (Watch w : List.copyOf(list)) {
      if (e.revokes()) {
        hub.send(w.response, WatchEvent.REVOKED, null, revoked(e.leaseId(), e.type().wireName(), e.by(), e.reason(),
            Boolean.TRUE.equals(e.immediate()), e.handoffAt() == null ? null : e.handoffAt().toString()));
      }
      if (e.type() == io.iqa.broker.store.LeaseEventType.YIELD_REQUESTED) {
        hub.send(w.response, WatchEvent.YIELD_REQUESTED, null, yieldRequested(e.leaseId(), e.by(), e.reason()));
      }
      if (e.freesCapacity()) {
        hub.send(w.response, WatchEvent.ENDED, null, new JsonObject().put("lease_id", e.leaseId()).put("event", e.type().wireName()));
        hub.end(w.response);
      }
    }
    if (e.freesCapacity()) {
      watches.remove(e.leaseId());
    }
  }

  /** Events may have been missed: reads every watched lease again and tells its watchers what changed. */
  public void resync() {
    for (Map.Entry<Long, List<Watch>> entry : List.copyOf(watches.entrySet())) {
      for (Watch w : List.copyOf(entry.getValue())) {
        recheck(entry.getKey(), w, false);
      }
    }
  }

  /**
   * Reads one watched lease again and tells its watcher what it may have missed: a revocation, an
   * end, or (unless {@code yieldTold}) a yield request. A watcher told twice ignores the second.
   */
  private void recheck(long leaseId, Watch w, boolean yieldTold) {
    store.lookup(w.tokenHash).onComplete(ar -> {
      if (w.response.closed()) {
        return;
      }
      if (ar.succeeded() && ar.result().revoking()) {
        Lease l = ar.result();
        hub.send(w.response, WatchEvent.REVOKED, null, revoked(l.leaseId(), l.revoked().wireName(), null, null, false,
            l.expiresAt().toString()));
      } else if (ar.succeeded() && ar.result().yieldRequestedAt() != null && !yieldTold) {
        hub.send(w.response, WatchEvent.YIELD_REQUESTED, null, yieldRequested(ar.result().leaseId(), null,
            askedEarlier(ar.result())));
      } else if (ar.failed() && ar.cause() instanceof StoreException se
          && se.kind() != StoreException.Kind.UNAVAILABLE) {
        if (se.reason() != null && se.reason().revokes()) {
          hub.send(w.response, WatchEvent.REVOKED, null, revoked(leaseId, se.reason().wireName(), null, null,
              false, null));
        }
        hub.send(w.response, WatchEvent.ENDED, null, new JsonObject().put("lease_id", leaseId)
            .put("event", se.reason() == null ? "unknown" : se.reason().wireName()));
        hub.end(w.response);
        forget(leaseId, w);
      }
    });
  }

  private void forget(long leaseId, Watch w) {
    List<Watch> list = watches.get(leaseId);
    if (list != null) {
      list.remove(w);
      if (list.isEmpty()) {
        watches.remove(leaseId);
      }
    }
  }

  /**
   * The message of a yield request read from the lease rather than heard as it happened (the watch
   * opened after it, or events were missed): who asked is not kept, but a holder always gets a message.
   */
  private static String askedEarlier(Lease lease) {
    return "gpu " + lease.gpu() + " is wanted by a waiter (asked at " + lease.yieldRequestedAt() + ")";
  }

  private static JsonObject yieldRequested(long leaseId, String by, String why) {
    return new JsonObject().put("lease_id", leaseId).put("by", by).put("message", why)
        .put("action", "finish the work in hand, free the GPU, then release the lease with reason 'yielded'");
  }

  private static JsonObject revoked(long leaseId, String reason, String by, String why, boolean immediate,
      String handoffAt) {
    return new JsonObject().put("lease_id", leaseId).put("reason", reason).put("by", by).put("message", why)
        .put("immediate", immediate).put("handoff_at", handoffAt)
        .put("action", "stop using the GPU, then release the lease");
  }
}
