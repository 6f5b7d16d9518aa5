package io.iqa.broker.store.impl;

import io.iqa.broker.GpuDevice;
import io.iqa.broker.store.AcquireResult;
import io.iqa.broker.store.EndReason;
import io.iqa.broker.store.ForceReleaseSelector;
import io.iqa.broker.store.Lease;
import io.iqa.broker.store.LeaseEvent;
import io.iqa.broker.store.LeaseRequest;
import io.iqa.broker.store.LeaseStore;
import io.iqa.broker.store.Priority;
import io.iqa.broker.store.ReleaseResult;
import io.iqa.broker.store.StoreClock;
import io.iqa.broker.store.StoreException;
import io.iqa.broker.store.StoreListener;
import io.iqa.broker.store.StoreSettings;
import io.iqa.broker.store.StoreSnapshot;
import io.iqa.broker.store.Waiter;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisOptions;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import io.vertx.redis.client.ResponseType;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Lease state in Redis, shared by any number of brokers. Every state change is one EVALSHA of
 * {@code lease-store.lua}, decided on Redis's clock; lease ids come from one Redis counter. Events
 * and wake-ups of other brokers arrive over pub/sub ({@link RedisNotifications}).
 */
public final class RedisLeaseStore implements LeaseStore {

  private static final Logger LOG = LoggerFactory.getLogger(RedisLeaseStore.class);
  private static final String SCRIPT = loadScript();

  private final Vertx vertx;
  private final String url;
  private final String prefix;
  private final StoreSettings settings;
  private final long waiterHeartbeatMs;
  private final String origin = UUID.randomUUID().toString();
  private Redis redis;
  private RedisNotifications notifications;
  private StoreListener listener;
  private JsonObject settingsJson;
  private final StoreClock clock;
  private String sha;
  /** The highest lease id this broker has seen: a Redis that lost its data never goes below it. */
  private final AtomicLong maxLeaseId = new AtomicLong();

  /**
   * @param waiterHeartbeatMs a queued request whose broker has not touched it for this long is dropped
   */
  public RedisLeaseStore(Vertx vertx, String url, String prefix, int poolSize, StoreSettings settings,
      long waiterHeartbeatMs) {
    this(vertx, url, prefix, poolSize, settings, waiterHeartbeatMs, null);
  }

  /** @param clock null: Redis's own clock (TIME), what every broker sharing this Redis agrees on; else the test's */
  public RedisLeaseStore(Vertx vertx, String url, String prefix, int poolSize, StoreSettings settings,
      long waiterHeartbeatMs, StoreClock clock) {
    this.clock = clock;
    this.vertx = vertx;
    this.url = url;
    this.prefix = prefix;
    this.settings = settings;
    this.waiterHeartbeatMs = waiterHeartbeatMs;
    this.redis = Redis.createClient(vertx, new RedisOptions()
        .setConnectionString(url)
        .setMaxPoolSize(poolSize)
        .setMaxPoolWaiting(10_000)
        .setMaxWaitingHandlers(10_000));
  }

  @Override
  public String type() {
    return "redis";
  }

  @Override
  public Future<Void> start(List<GpuDevice> gpus, StoreListener storeListener) {
    this.listener = storeListener;
    JsonArray devices = new JsonArray();
    gpus.forEach(g -> devices.add(new JsonObject().put("index", g.index()).put("vram", g.vramMb())));
    settingsJson = new JsonObject()
        .put("gpus", devices)
        .put("stale", settings.staleMaxAgeMs())
        .put("aging", settings.priorityAgingMs())
        .put("events_max", settings.eventsMax())
        .put("tomb_ttl", settings.tombstoneTtlMs())
        .put("grace", settings.recoveryGraceMs());
    String gpusKey = prefix + "gpus";
    return redis.send(Request.cmd(Command.SCRIPT).arg("LOAD").arg(SCRIPT))
        .compose(loaded -> {
          sha = loaded.toString();
          return redis.send(Request.cmd(Command.SET).arg(gpusKey).arg(devices.encode()).arg("NX").arg("GET"));
        })
        .compose(previous -> {
          if (previous != null && !new JsonArray(previous.toString()).equals(devices)) {
            return Future.failedFuture(new StoreException(StoreException.Kind.UNAVAILABLE,
                "the brokers sharing " + url + " (prefix '" + prefix + "') arbitrate gpus " + previous
                    + ", this broker's config says " + devices.encode() + ": make them agree, or use another key_prefix"));
          }
          return call("start", new JsonObject().put("fresh", settings.fresh()), res -> res);
        })
        .compose(res -> {
          long until = res.getLong("recovering_until", 0L);
          if (res.getBoolean("created", false) && until > res.getLong("now")) {
            LOG.warn("redis at {} holds no lease state for prefix '{}': granting nothing until {} (recovery_grace_s={}), "
                + "in case a lease granted before is still in use. Start with --fresh when no such lease can be alive.",
                url, prefix, Instant.ofEpochMilli(until), settings.recoveryGraceMs() / 1000);
          }
          notifications = new RedisNotifications(vertx, url, prefix + "ch", origin, storeListener, gpus);
          return notifications.start();
        })
        .recover(e -> Future.failedFuture(e instanceof StoreException ? e : unavailable(e)));
  }

  @Override
  public Future<AcquireResult> acquire(LeaseRequest r, String waiterId) {
    JsonObject req = new JsonObject()
        .put("th", r.tokenHash())
        .put("owner", r.owner())
        .put("purpose", r.purpose())
        .put("ttl", r.ttlMs())
        .put("prio", r.priority().wireName())
        .put("wait", r.waitMs())
        .put("yield", r.yieldable())
        .put("preempt", r.preempt());
    putIfSet(req, "gpu", r.gpu());
    putIfSet(req, "vram", r.vramMb());
    putIfSet(req, "pid", r.pid());
    putIfSet(req, "pids", r.pidStartMs());
    putIfSet(req, "host", r.host());
    JsonObject args = new JsonObject().put("req", req).put("hb", waiterHeartbeatMs);
    putIfSet(args, "waiter", waiterId);
    return call("acquire", args, res -> {
      long now = res.getLong("now");
      JsonObject granted = res.getJsonObject("granted");
      if (granted != null) {
        return new AcquireResult.Granted(lease(granted, now));
      }
      JsonObject busy = res.getJsonObject("busy");
      List<Lease> holders = new ArrayList<>();
      for (Object o : array(busy, "holders")) {
        holders.add(lease((JsonObject) o, now));
      }
      Long until = busy.getLong("recovering_until");
      return new AcquireResult.Busy(holders, busy.getInteger("pos"), busy.getLong("retry_in"),
          until == null ? null : Instant.ofEpochMilli(until));
    });
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
    JsonObject args = new JsonObject().put("th", tokenHash);
    putIfSet(args, "by", by); // a JSON null would reach Lua as cjson.null, which is true
    putIfSet(args, "ttl", ttlMs);
    return call("renew", args, res -> {
      throwIfLostOrUnknown(res);
      return lease(res.getJsonObject("lease"), res.getLong("now"));
    });
  }

  @Override
  public Future<ReleaseResult> release(String tokenHash, String by, String why) {
    JsonObject args = new JsonObject().put("th", tokenHash);
    putIfSet(args, "by", by);
    putIfSet(args, "why", why);
    return call("release", args, res -> {
      throwIfLostOrUnknown(res);
      boolean released = res.getBoolean("released");
      String revoked = res.getString("revoked");
      return new ReleaseResult(released, released ? null : EndReason.fromWire(res.getString("reason")),
          revoked == null ? null : EndReason.fromWire(revoked));
    });
  }

  @Override
  public Future<Lease> lookup(String tokenHash) {
    return call("lookup", new JsonObject().put("th", tokenHash), res -> {
      throwIfLostOrUnknown(res);
      return lease(res.getJsonObject("lease"), res.getLong("now"));
    });
  }

  @Override
  public Future<List<Lease>> forceRelease(ForceReleaseSelector sel) {
    JsonObject args = new JsonObject().put("by", sel.by()).put("reason", sel.reason()).put("immediate", sel.immediate());
    putIfSet(args, "lease_id", sel.leaseId());
    putIfSet(args, "owner", sel.owner());
    putIfSet(args, "older_than", sel.olderThanMs());
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
      return leases(res, "leases");
    });
  }

  @Override
  public Future<Boolean> end(long leaseId, EndReason reason, String by, String detail) {
    JsonObject args = new JsonObject().put("lease_id", leaseId).put("reason", reason.wireName()).put("by", by);
    putIfSet(args, "detail", detail);
    return call("end", args, res -> res.getBoolean("ended"));
  }

  @Override
  public Future<Void> note(String type, int gpu, String subject, String detail) {
    JsonObject args = new JsonObject().put("type", type).put("gpu", gpu).put("subject", subject).put("detail", detail);
    return call("note", args, res -> null);
  }

  @Override
  public Future<List<Lease>> expireDue() {
    return call("expire", new JsonObject(), res -> leases(res, "leases"));
  }

  @Override
  public Future<StoreSnapshot> snapshot() {
    return call("snapshot", new JsonObject(), res -> {
      long now = res.getLong("now");
      List<Waiter> waiting = new ArrayList<>();
      for (Object o : array(res, "waiting")) {
        JsonObject q = (JsonObject) o;
        JsonObject r = q.getJsonObject("req");
        waiting.add(new Waiter(r.getString("owner"), r.getString("purpose", ""), r.getInteger("gpu"),
            r.getInteger("vram"), priority(r.getValue("prio")), now - q.getLong("enq")));
      }
      Long until = res.getLong("recovering_until");
      return new StoreSnapshot(Instant.ofEpochMilli(now), leases(res, "leases"), waiting,
          until == null ? null : Instant.ofEpochMilli(until));
    });
  }

  @Override
  public Future<List<LeaseEvent>> events() {
    return redis.send(Request.cmd(Command.LRANGE).arg(prefix + "events").arg(0).arg(-1))
        .map(resp -> {
          List<LeaseEvent> list = new ArrayList<>();
          for (Response item : resp) {
            list.add(RedisNotifications.event(new JsonObject(item.toString())));
          }
          return list;
        })
        .recover(e -> Future.failedFuture(unavailable(e)));
  }

  @Override
  public Future<Void> close() {
    Future<Void> n = notifications == null ? Future.succeededFuture() : notifications.close();
    return n.eventually(() -> redis.close());
  }

  // ---- plumbing ----

  private <T> Future<T> call(String op, JsonObject args, Function<JsonObject, T> decode) {
    if (sha == null) {
      return Future.failedFuture(new StoreException(StoreException.Kind.UNAVAILABLE, "redis store not started"));
    }
    if (clock != null) {
      args.put("now", clock.wallMs());
    }
    String payload = args.put("s", settingsJson).put("origin", origin).put("floor", maxLeaseId.get()).encode();
    return redis.send(Request.cmd(Command.EVALSHA).arg(sha).arg(0).arg(prefix).arg(op).arg(payload))
        .recover(e -> {
          // A restarted Redis has forgotten the script: load it again with the call itself.
          if (isError(e) && e.toString().startsWith("NOSCRIPT")) {
            return redis.send(Request.cmd(Command.EVAL).arg(SCRIPT).arg(0).arg(prefix).arg(op).arg(payload));
          }
          return Future.failedFuture(e);
        })
        .recover(e -> Future.failedFuture(isError(e)
            ? new IllegalStateException("redis lease script failed in '" + op + "': " + e, e)
            : unavailable(e)))
        .map(resp -> {
          JsonObject res = new JsonObject(resp.toString());
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
    for (Object e : array(res, "events")) {
      listener.onEvent(RedisNotifications.event((JsonObject) e), true);
    }
    for (Object gpu : array(res, "wakes")) {
      listener.onWake(((Number) gpu).intValue());
    }
  }

  /** Redis answered without the lease state it had: it lost its data (restarted without persistence). */
  private void lostState() {
    LOG.warn("redis at {} lost the lease state of prefix '{}' (restarted without its data?): granting nothing for "
        + "recovery_grace_s={} so leases granted before run out; lease ids continue above {}", url, prefix,
        settings.recoveryGraceMs() / 1000, maxLeaseId.get());
  }

  private StoreException unavailable(Throwable e) {
    return new StoreException(StoreException.Kind.UNAVAILABLE,
        "lease store unavailable: redis at " + url + " does not answer (" + e.getMessage() + ")", null, e);
  }

  private static boolean isError(Throwable e) {
    return e instanceof Response r && r.type() == ResponseType.ERROR;
  }

  private static void throwIfLostOrUnknown(JsonObject res) {
    JsonObject lost = res.getJsonObject("lost");
    if (lost != null) {
      EndReason reason = EndReason.fromWire(lost.getString("reason"));
      throw lost.getBoolean("revoking", false) ? StoreException.revoked(reason, lost.getLong("id"))
          : StoreException.leaseLost(reason, lost.getLong("id"));
    }
    if (res.getBoolean("unknown", false)) {
      throw new StoreException(StoreException.Kind.UNKNOWN_LEASE, "no lease is known for this token");
    }
  }

  /** Stored by name; an older broker stored the rank. */
  private static Priority priority(Object stored) {
    return stored instanceof Number n ? Priority.values()[n.intValue()] : Priority.parse(String.valueOf(stored));
  }

  private List<Lease> leases(JsonObject res, String key) {
    long now = res.getLong("now");
    List<Lease> list = new ArrayList<>();
    for (Object o : array(res, key)) {
      list.add(lease((JsonObject) o, now));
    }
    list.sort(java.util.Comparator.comparingInt(Lease::gpu).thenComparingLong(Lease::leaseId));
    return list;
  }

  private Lease lease(JsonObject l, long now) {
    long granted = l.getLong("granted");
    long expires = l.getLong("expires");
    maxLeaseId.accumulateAndGet(l.getLong("id"), Math::max);
    String rv = l.getString("rv");
    return new Lease(l.getLong("id"), l.getString("th"), l.getInteger("gpu"), l.getString("owner"),
        l.getString("purpose", ""), l.getInteger("vram"), l.getBoolean("excl"), priority(l.getValue("prio")),
        l.getLong("pid"), l.getLong("pids"), l.getString("host"), Instant.ofEpochMilli(granted),
        Instant.ofEpochMilli(expires), l.getLong("ttl"), now - granted, expires - now,
        rv == null ? null : EndReason.fromWire(rv), rv == null ? null : Instant.ofEpochMilli(l.getLong("rvat")),
        l.getBoolean("y", false), l.getLong("yr") == null ? null : Instant.ofEpochMilli(l.getLong("yr")));
  }

  /** Lua's JSON encoder writes an empty list as {}: read both as a list. */
  static JsonArray array(JsonObject json, String key) {
    Object v = json.getValue(key);
    return v instanceof JsonArray a ? a : new JsonArray();
  }

  private static void putIfSet(JsonObject json, String key, Object value) {
    if (value != null) {
      json.put(key, value);
    }
  }

  private static String loadScript() {
    try (InputStream in = RedisLeaseStore.class.getResourceAsStream("lease-store.lua")) {
      if (in == null) {
        throw new IllegalStateException("lease-store.lua missing from the classpath");
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new IllegalStateException("cannot read lease-store.lua", e);
    }
  }
}
