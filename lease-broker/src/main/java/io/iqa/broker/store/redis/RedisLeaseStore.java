package io.iqa.broker.store.redis;

import io.iqa.broker.gpu.GpuDevice;
import io.iqa.broker.store.AcquireRequest;
import io.iqa.broker.store.AcquireResult;
import io.iqa.protocol.wire.EndReason;
import io.iqa.broker.store.ForceReleaseSelector;
import io.iqa.broker.store.Lease;
import io.iqa.broker.store.LeaseEvent;
import io.iqa.broker.store.LeaseStore;
import io.iqa.broker.store.ReleaseResult;
import io.iqa.broker.store.StoreClock;
import io.iqa.broker.store.StoreException;
import io.iqa.broker.store.StoreListener;
import io.iqa.broker.store.StoreSettings;
import io.iqa.broker.store.StoreSnapshot;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisOptions;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Lease state in Redis, shared by any number of brokers. Every state change is one call of
 * {@code lease-store.lua} ({@link RedisLeaseScript}), decided on Redis's clock, its records read
 * by {@link RedisLeaseJson}; lease ids come from one Redis counter. Events and wake-ups of other
 * brokers arrive over pub/sub ({@link RedisNotifications}).
 */
public final class RedisLeaseStore implements LeaseStore {

  private static final Logger LOG = LoggerFactory.getLogger(RedisLeaseStore.class);

  private final Vertx vertx;
  private final String url;
  private final String prefix;
  private final StoreSettings settings;
  private final long waiterHeartbeatMs;
  private final String origin = UUID.randomUUID().toString();
  private Redis redis;
  private RedisNotifications notifications;
  private StoreListener listener;
  private final RedisLeaseScript script;
  /** The highest lease id this broker has seen: a Redis that lost its data never goes below it. */
  private final AtomicLong maxLeaseId = new AtomicLong();
  private final RedisLeaseJson json;

  /**
   * @param waiterHeartbeatMs a queued request whose broker has not touched it for this long is dropped
   */
  public RedisLeaseStore(Vertx vertx, RedisStoreConfig config, StoreSettings settings, long waiterHeartbeatMs) {
    this(vertx, config, settings, waiterHeartbeatMs, null);
  }

  /**
   * @param clock null: the store's own clock in Redis, moved by the brokers' monotonic clocks (what every broker
   *     sharing this Redis agrees on, and no wall-clock step moves); else the test's
   */
  public RedisLeaseStore(Vertx vertx, RedisStoreConfig config, StoreSettings settings, long waiterHeartbeatMs,
      StoreClock clock) {
    this.vertx = vertx;
    this.url = config.url();
    this.prefix = config.keyPrefix();
    this.settings = settings;
    this.waiterHeartbeatMs = waiterHeartbeatMs;
    this.redis = Redis.createClient(vertx, new RedisOptions()
        .setConnectionString(url)
        .setMaxPoolSize(config.poolSize())
        .setMaxPoolWaiting(10_000)
        .setMaxWaitingHandlers(10_000));
    this.script = new RedisLeaseScript(redis, url, prefix, origin, clock);
    script.commandTimeoutMs(config.commandTimeoutMs());
    this.json = new RedisLeaseJson(maxLeaseId, clock == null ? System::currentTimeMillis : clock::wallMs);
  }

  @Override
  public String type() {
    return "redis";
  }

  @Override
  public Future<Void> start(List<GpuDevice> gpus, StoreListener brokerListener) {
    StoreListener storeListener = new IdFloorListener(maxLeaseId, brokerListener);
    this.listener = storeListener;
    JsonArray devices = new JsonArray();
    gpus.forEach(g -> devices.add(new JsonObject().put("index", g.index()).put("vram_mb", g.vramMb())));
    JsonObject settingsJson = new JsonObject()
        .put("gpus", devices)
        .put("stale_max_age_ms", settings.staleMaxAgeMs())
        .put("priority_aging_ms", settings.priorityAgingMs())
        .put("events_max", settings.eventsMax())
        .put("tombstone_ttl_ms", settings.tombstoneTtlMs())
        .put("recovery_grace_ms", settings.recoveryGraceMs());
    String gpusKey = prefix + "gpus";
    return script.load(settingsJson)
        .compose(loaded -> script.timed(redis.send(Request.cmd(Command.SET).arg(gpusKey).arg(devices.encode()).arg("NX")
            .arg("GET")), "SET gpus"))
        .compose(previous -> {
          if (previous != null && !RedisLeaseJson.storedDevices(previous.toString()).equals(devices)) {
            return Future.failedFuture(new StoreException(StoreException.Kind.UNAVAILABLE,
                "the brokers sharing " + url + " (prefix '" + prefix + "') arbitrate gpus " + previous
                    + ", this broker's config says " + devices.encode() + ": make them agree, or use another key_prefix"));
          }
          // An older broker's short names: written anew, so that one of those no longer starts here.
          Future<?> upgraded = previous == null || previous.toString().equals(devices.encode()) ? Future.succeededFuture()
              : script.timed(redis.send(Request.cmd(Command.SET).arg(gpusKey).arg(devices.encode())), "SET gpus");
          return upgraded.compose(v -> call("start", new JsonObject().put("fresh", settings.fresh()), res -> res));
        })
        .compose(res -> {
          long until = res.getLong("recovering_until", 0L);
          if (res.getBoolean("created", false)) {
            LOG.info("first start on redis at {} (prefix '{}'): no lease state there yet; it is created now", url,
                prefix);
          } else if (until > res.getLong("now")) {
            LOG.warn("redis at {} (prefix '{}') is in a recovery grace after it lost its lease state: granting nothing "
                + "for {} s more, in case a lease granted before is still in use", url, prefix,
                (until - res.getLong("now")) / 1000);
          }
          notifications = new RedisNotifications(vertx, url, prefix + "ch", origin, storeListener, gpus, json);
          return notifications.start();
        })
        .recover(e -> Future.failedFuture(e instanceof StoreException ? e : script.unavailable(e)));
  }

  @Override
  public Future<AcquireResult> acquire(AcquireRequest r, String waiterId) {
    return call("acquire", new JsonObject().put("req", RedisLeaseJson.request(r)).put("hb", waiterHeartbeatMs)
        .put("waiter", waiterId), json::acquired);
  }

  @Override
  public Future<Void> cancelWait(String waiterId) {
    return call("cancel", new JsonObject().put("waiter", waiterId), res -> null);
  }

  @Override
  public Future<Void> touchWaiters(List<String> waiterIds) {
    if (waiterIds.isEmpty()) {
      return Future.succeededFuture();
    }
    return call("touch", new JsonObject().put("waiters", new JsonArray(waiterIds)).put("hb", waiterHeartbeatMs),
        res -> null);
  }

  @Override
  public Future<Lease> renew(String tokenHash, Long ttlMs, String by) {
    return holderCall("renew", new JsonObject().put("token_hash", tokenHash).put("by", by).put("ttl_ms", ttlMs),
        res -> json.lease(res.getJsonObject("lease"), res.getLong("now")));
  }

  @Override
  public Future<ReleaseResult> release(String tokenHash, String by, String why) {
    return holderCall("release", new JsonObject().put("token_hash", tokenHash).put("by", by).put("reason", why), res -> {
      boolean released = res.getBoolean("released");
      String revoked = res.getString("revoked");
      return new ReleaseResult(released, released ? null : EndReason.fromWire(res.getString("reason")),
          revoked == null ? null : EndReason.fromWire(revoked));
    });
  }

  @Override
  public Future<Lease> lookup(String tokenHash) {
    return holderCall("lookup", new JsonObject().put("token_hash", tokenHash),
        res -> json.lease(res.getJsonObject("lease"), res.getLong("now")));
  }

  @Override
  public Future<List<Lease>> forceRelease(ForceReleaseSelector sel) {
    JsonObject args = new JsonObject().put("by", sel.by()).put("reason", sel.reason()).put("immediate", sel.immediate())
        .put("lease_id", sel.leaseId()).put("owner", sel.owner()).put("older_than_ms", sel.olderThanMs());
    if (sel.allowedOwners() != null) {
      args.put("allowed_owners", new JsonArray(List.copyOf(sel.allowedOwners())));
    }
    return call("force", args, res -> {
      if (res.getBoolean("unknown", false)) {
        throw new StoreException(StoreException.Kind.UNKNOWN_LEASE, "no active lease matches lease_id "
            + sel.leaseId() + (sel.owner() != null ? " and owner " + sel.owner() : ""));
      }
      if (res.getBoolean("forbidden", false)) {
        throw new StoreException(StoreException.Kind.FORBIDDEN,
            "'" + sel.by() + "' may only force-release leases of " + sel.allowedOwners());
      }
      return json.leases(res, "leases");
    });
  }

  @Override
  public Future<Boolean> end(long leaseId, EndReason reason, String by, String detail) {
    return call("end", new JsonObject().put("lease_id", leaseId).put("reason", reason.wireName()).put("by", by)
        .put("detail", detail), res -> res.getBoolean("ended"));
  }

  @Override
  public Future<Void> note(io.iqa.broker.store.LeaseEventType type, int gpu, String subject, String detail) {
    JsonObject args = new JsonObject().put("type", type.wireName()).put("gpu", gpu).put("subject", subject).put("detail", detail);
    return call("note", args, res -> null);
  }

  @Override
  public Future<List<Lease>> expireDue() {
    return call("expire", new JsonObject(), res -> json.leases(res, "leases"));
  }

  @Override
  public Future<StoreSnapshot> snapshot() {
    return call("snapshot", new JsonObject(), res -> {
      Long until = res.getLong("recovering_until");
      return new StoreSnapshot(json.wall(res.getLong("now")), json.leases(res, "leases"), RedisLeaseJson.waiters(res),
          until == null ? null : json.wall(until));
    });
  }

  @Override
  public Future<List<LeaseEvent>> events() {
    return script.timed(redis.send(Request.cmd(Command.LRANGE).arg(prefix + "events").arg(0).arg(-1)), "LRANGE events")
        .map(resp -> {
          List<LeaseEvent> list = new ArrayList<>();
          for (Response item : resp) {
            list.add(json.event(new JsonObject(item.toString())));
          }
          return list;
        })
        .recover(e -> Future.failedFuture(e instanceof StoreException ? e : script.unavailable(e)));
  }

  @Override
  public Future<Void> close() {
    Future<Void> n = notifications == null ? Future.succeededFuture() : notifications.close();
    return n.eventually(() -> redis.close());
  }

  // ---- plumbing ----

  /** A call made with a lease's token ({@code th}): an unknown or lost lease fails it with its StoreException. */
  private <T> Future<T> holderCall(String op, JsonObject args, Function<JsonObject, T> decode) {
    return call(op, args, res -> {
      RedisLeaseJson.throwIfLostOrUnknown(res);
      return decode.apply(res);
    });
  }

  private <T> Future<T> call(String op, JsonObject args, Function<JsonObject, T> decode) {
    return script.call(op, args, maxLeaseId.get())
        .map(res -> {
          json.anchor(res.getLong("now"));
          if (res.getBoolean("reinit", false) && !op.equals("start")) {
            lostState();
          }
          dispatchLocal(res);
          return decode.apply(res);
        });
  }

  /** Events and wake-ups of this broker's own steps are delivered at once; pub/sub skips them. */
  private void dispatchLocal(JsonObject res) {
    if (listener == null) {
      return;
    }
    for (Object e : RedisLeaseJson.array(res, "events")) {
      listener.onEvent(json.event((JsonObject) e), true);
    }
    for (Object gpu : RedisLeaseJson.array(res, "wakes")) {
      listener.onWake(((Number) gpu).intValue());
    }
  }

  /** Redis answered without the lease state it had: it lost its data (restarted without persistence). */
  private void lostState() {
    LOG.warn("redis at {} lost the lease state of prefix '{}' (restarted without its data?): granting nothing for "
        + "recovery_grace_s={} so leases granted before run out; lease ids continue above {}", url, prefix,
        settings.recoveryGraceMs() / 1000, maxLeaseId.get());
  }

}
