package io.iqa.broker.http;

import io.iqa.broker.BrokerOptions;
import io.iqa.broker.gpu.GpuDevice;
import io.iqa.broker.BrokerMetrics;
import io.iqa.broker.gpu.GpuObserver;
import io.iqa.broker.lease.Holders;
import io.iqa.broker.lease.Waiters;
import io.iqa.broker.store.AcquireRequest;
import io.iqa.broker.store.AcquireResult;
import io.iqa.broker.store.ForceReleaseSelector;
import io.iqa.broker.store.Lease;
import io.iqa.broker.store.LeaseStore;
import io.iqa.broker.store.StoreException;
import io.iqa.broker.store.StoreSnapshot;
import io.iqa.protocol.Sha256;
import io.iqa.protocol.Text;
import io.iqa.protocol.wire.ErrorCode;
import io.iqa.protocol.wire.ForceReleaseRequest;
import io.iqa.protocol.wire.LeaseRequest;
import io.iqa.protocol.wire.ReleaseRequest;
import io.iqa.protocol.wire.RenewRequest;
import io.iqa.server.HttpError;
import io.iqa.server.Json;
import io.vertx.core.Future;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The lease endpoints of the v1 contract: lease, renew, release, status, force_release. */
public final class LeaseApi {

  private static final Logger LOG = LoggerFactory.getLogger(LeaseApi.class);
  private static final int TOKEN_BYTES = 32;

  private final BrokerOptions options;
  private final Map<Integer, GpuDevice> gpus = new TreeMap<>();
  private final LeaseStore store;
  private final Waiters waiters;
  private final Holders holders;
  private final BrokerMetrics metrics;
  private final GpuObserver observer;
  private final SecureRandom random = new SecureRandom();

  public LeaseApi(BrokerOptions options, List<GpuDevice> gpus, LeaseStore store, Waiters waiters, Holders holders,
      BrokerMetrics metrics, GpuObserver observer) {
    this.options = options;
    gpus.forEach(g -> this.gpus.put(g.index(), g));
    this.store = store;
    this.waiters = waiters;
    this.holders = holders;
    this.metrics = metrics;
    this.observer = observer;
  }

  public void lease(RoutingContext ctx) {
    long started = System.nanoTime();
    String token = newToken();
    AcquireRequest request = leaseRequest(ctx, Sha256.hex(token));
    long waitMs = request.waitMs();
    String waiterId = waitMs > 0 ? UUID.randomUUID().toString() : null;
    if (waiterId != null) {
      ctx.response().closeHandler(v -> waiters.abandon(waiterId));
    }
    store.acquire(request, waiterId)
        .compose(first -> {
          Waiters.Attempt attempt = new Waiters.Attempt(first, started);
          if (!(first instanceof AcquireResult.Busy busy) || waiterId == null) {
            return Future.succeededFuture(attempt);
          }
          if (ctx.response().closed()) {
            // The client left while the first attempt was in flight: do not keep its place.
            store.cancelWait(waiterId);
            return Future.succeededFuture(attempt);
          }
          return waiters.await(waiterId, request, waitMs, busy);
        })
        .onSuccess(attempt -> answerLease(ctx, request, token, attempt, started))
        .onFailure(ctx::fail);
  }

  /**
   * The answer to a lease request. A grant carries {@code queued_ms}: how long the broker held the
   * request before the step that granted it began (never more than it really held it), so the
   * holder counts its own deadline from its send time plus that, not from its send time alone.
   */
  private void answerLease(RoutingContext ctx, AcquireRequest request, String token, Waiters.Attempt attempt,
      long started) {
    AcquireResult result = attempt.result();
    if (result instanceof AcquireResult.Granted granted) {
      Lease lease = granted.lease();
      if (ctx.response().closed()) {
        LOG.info("lease {} for '{}' granted after its client disconnected; releasing it", lease.leaseId(), lease.owner());
        store.release(request.tokenHash(), "broker", "its client had gone");
        return;
      }
      metrics.granted(lease.gpu(), System.nanoTime() - started);
      LOG.debug("granted lease {} on gpu {} to '{}'", lease.leaseId(), lease.gpu(), lease.owner());
      Json.send(ctx, 200, lease.toHolderJson(token, Math.max(0, (attempt.startedNanos() - started) / 1_000_000)));
      return;
    }
    AcquireResult.Busy busy = (AcquireResult.Busy) result;
    metrics.busy();
    JsonArray holdersJson = new JsonArray();
    busy.holders().forEach(l -> holdersJson.add(l.toPublicJson()));
    String where = request.gpu() == null ? "any gpu" : "gpu " + request.gpu();
    JsonObject extra = new JsonObject().put("holders", holdersJson).put("queue_position", busy.queuePosition());
    if (busy.recoveringUntil() != null) {
      extra.put("recovering_until", busy.recoveringUntil().toString());
      ctx.fail(new HttpError(ErrorCode.GPU_BUSY, "the broker started without its lease state and grants nothing "
          + "until " + busy.recoveringUntil() + " (recovery_grace_s), in case a lease granted before is still in use; "
          + "an operator who knows no such lease is alive restarts it with --fresh", extra));
      return;
    }
    ctx.fail(new HttpError(ErrorCode.GPU_BUSY, where + " is busy (" + busy.holders().size() + " holder(s))", extra));
  }

  public void renew(RoutingContext ctx) {
    RenewRequest body = Body.as(ctx, RenewRequest.class);
    Double ttlS = body.ttlS();
    if (ttlS != null && ttlS > options.maxTtlS()) {
      throw HttpError.badRequest("ttl_s must be at most max_ttl_s=" + Text.number(options.maxTtlS()) + ", not "
          + Text.number(ttlS));
    }
    store.renew(Sha256.hex(body.token()), ttlS == null ? null : Math.round(ttlS * 1000), caller(ctx))
        .onSuccess(lease -> {
          metrics.renewed();
          Json.send(ctx, 200, lease.toHolderJson(null, null));
        })
        .onFailure(ctx::fail);
  }

  public void release(RoutingContext ctx) {
    ReleaseRequest body = Body.as(ctx, ReleaseRequest.class);
    store.release(Sha256.hex(body.token()), caller(ctx), body.reason())
        .onSuccess(r -> Json.send(ctx, 200, !r.released()
            ? new JsonObject().put("released", false).put("reason", r.reason().wireName())
            : r.revoked() == null ? new JsonObject().put("released", true)
            : new JsonObject().put("released", true).put("revoked", r.revoked().wireName())))
        .onFailure(ctx::fail);
  }

  public void forceRelease(RoutingContext ctx) {
    ForceReleaseRequest body = Body.as(ctx, ForceReleaseRequest.class);
    Long leaseId = body.leaseId();
    String owner = body.owner();
    Double olderThanS = body.olderThanS();
    String reason = body.reason() == null ? "force-released by operator" : body.reason();
    boolean immediate = Boolean.TRUE.equals(body.immediate());
    Principal who = BearerAuth.principal(ctx);
    if (owner != null && !who.mayActAs(owner)) {
      throw new HttpError(ErrorCode.FORBIDDEN, "'" + who.name() + "' may only force-release leases of " + who.owners()
          + ", not '" + owner + "''s");
    }
    if (immediate && !who.admin()) {
      throw new HttpError(ErrorCode.FORBIDDEN, "only an admin may force-release with \"immediate\": true (it hands "
          + "the GPU on without waiting for the holder to stop)");
    }
    ForceReleaseSelector selector = new ForceReleaseSelector(leaseId, owner,
        olderThanS == null ? null : Math.round(olderThanS * 1000), who.ownersOrNullForAny(), who.name(), reason,
        immediate);
    store.forceRelease(selector)
        .onSuccess(released -> {
          JsonArray list = new JsonArray();
          released.forEach(l -> list.add(l.toPublicJson()));
          Json.send(ctx, 200, new JsonObject().put("released", list));
        })
        .onFailure(ctx::fail);
  }

  public void status(RoutingContext ctx) {
    store.snapshot()
        .onSuccess(snapshot -> Json.send(ctx, 200, statusJson(snapshot)))
        .onFailure(ctx::fail);
  }

  private JsonObject statusJson(StoreSnapshot snapshot) {
    JsonArray devices = new JsonArray();
    GpuObserver.Observation seen = observer.active() ? observer.latest() : null;
    for (GpuDevice gpu : gpus.values()) {
      JsonArray leases = new JsonArray();
      int used = 0;
      boolean exclusive = false;
      for (Lease l : snapshot.leases()) {
        if (l.gpu() == gpu.index()) {
          JsonObject json = l.toPublicJson();
          if (seen != null) {
            json.put("observed_vram_mb", seen.leaseUsedMb(l.leaseId()));
          }
          leases.add(json);
          used += l.vramMb();
          exclusive |= l.exclusive();
        }
      }
      JsonArray waiting = new JsonArray();
      snapshot.waiting().stream()
          .filter(w -> w.gpu() == null || w.gpu() == gpu.index())
          .forEach(w -> waiting.add(w.toJson()));
      devices.add(new JsonObject()
          .put("gpu", gpu.index())
          .put("vram_mb", gpu.vramMb())
          .put("free_vram_mb", exclusive ? 0 : Math.max(0, gpu.vramMb() - used))
          .put("leases", leases)
          .put("waiting", waiting));
      if (seen != null) {
        devices.getJsonObject(devices.size() - 1).put("observed", seen.gpuJson(gpu.index()));
      }
    }
    return new JsonObject()
        .put("gpus", devices)
        .put("stale_max_age_s", options.staleMaxAgeS())
        .put("store", store.type())
        .put("recovering_until", snapshot.recoveringUntil() == null ? null : snapshot.recoveringUntil().toString())
        .put("time", snapshot.time().toString());
  }

  /** Who renews or releases, for the event: the token's name with auth on; null (the lease's owner) without. */
  private static String caller(RoutingContext ctx) {
    Principal who = BearerAuth.principal(ctx);
    return who == Principal.OPEN ? null : who.name();
  }

  private AcquireRequest leaseRequest(RoutingContext ctx, String tokenHash) {
    LeaseRequest asked = LeaseRequest.fromMap(Body.map(ctx), options.defaultTtlS(), options.maxTtlS(),
        options.maxWaitS());
    Principal who = BearerAuth.principal(ctx);
    if (!who.mayActAs(asked.owner())) {
      throw new HttpError(ErrorCode.FORBIDDEN, "the token '" + who.name() + "' may lease only as " + who.owners()
          + ", not as '" + asked.owner() + "' (an admin token, or auth.tokens[].owners, allows more)");
    }
    checkCapacity(asked.gpu(), asked.vramMb());
    Long pid = asked.pid();
    String host = asked.host();
    String pidIdentity = null;
    if (pid != null && host == null && ctx.request().remoteAddress() != null
        && isLoopback(ctx.request().remoteAddress().hostAddress())) {
      host = holders.hostName();
    }
    if (pid != null && holders.isLocal(host)) {
      pidIdentity = holders.identity(pid).orElseThrow(() ->
          HttpError.badRequest("pid " + pid + " is not a running process on this host"));
    }
    return new AcquireRequest(asked.owner(), asked.purpose(), tokenHash, Math.round(asked.ttlS() * 1000), asked.gpu(),
        asked.vramMb(), asked.priority(), pid, pidIdentity, host, Math.round(asked.waitS() * 1000), asked.yieldable(),
        asked.preempt());
  }

  private void checkCapacity(Integer gpu, Integer vramMb) {
    if (gpu != null) {
      GpuDevice device = gpus.get(gpu);
      if (device == null) {
        throw HttpError.badRequest("unknown gpu " + gpu + "; this broker arbitrates " + gpus.keySet());
      }
      if (vramMb != null && device.vramMb() > 0 && vramMb > device.vramMb()) {
        throw HttpError.badRequest("vram_mb " + vramMb + " exceeds gpu " + gpu + "'s capacity of "
            + device.vramMb() + " MB");
      }
    } else if (vramMb != null && gpus.values().stream().noneMatch(d -> d.vramMb() == 0 || d.vramMb() >= vramMb)) {
      throw HttpError.badRequest("vram_mb " + vramMb + " exceeds the capacity of every gpu");
    }
  }

  private static boolean isLoopback(String address) {
    return address.startsWith("127.") || address.equals("0:0:0:0:0:0:0:1") || address.equals("::1");
  }

  private String newToken() {
    byte[] bytes = new byte[TOKEN_BYTES];
    random.nextBytes(bytes);
    return Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
  }

  /** Maps a store failure to its HTTP error. */
  public static HttpError toApi(StoreException e) {
    return switch (e.kind()) {
      case LEASE_LOST -> new HttpError(ErrorCode.LEASE_LOST, e.getMessage(),
          new JsonObject().put("reason", e.reason().wireName()));
      case UNKNOWN_LEASE -> new HttpError(ErrorCode.UNKNOWN_LEASE, e.getMessage());
      case FORBIDDEN -> new HttpError(ErrorCode.FORBIDDEN, e.getMessage());
      case UNAVAILABLE -> new HttpError(ErrorCode.STORE_UNAVAILABLE, e.getMessage());
    };
  }
}
