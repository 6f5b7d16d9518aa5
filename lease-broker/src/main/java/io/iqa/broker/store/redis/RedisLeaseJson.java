package io.iqa.broker.store.redis;

import io.iqa.broker.store.AcquireResult;
import io.iqa.protocol.wire.EndReason;
import io.iqa.broker.store.Lease;
import io.iqa.broker.store.LeaseEvent;
import io.iqa.broker.store.AcquireRequest;
import io.iqa.broker.store.StoreException;
import io.iqa.broker.store.Waiter;
import io.iqa.protocol.wire.Priority;
import io.iqa.protocol.wire.WireJson;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * The Redis store's records as {@code lease-store.lua} keeps them, in the field names of the
 * store's own {@link Lease} and {@link AcquireRequest} (snake_case; times in ms on the store's
 * clock, shown on the broker's wall clock; the script reads an older broker's short names too),
 * written from and read into those types. Every lease read raises {@code maxLeaseId}, so that ids continue above it
 * should Redis lose its data.
 */
final class RedisLeaseJson {

  private final AtomicLong maxLeaseId;
  private final LongSupplier wallNow;
  /** Store time + this = the wall time it is shown as: fixed at this broker's first answer. */
  private volatile long displayOffsetMs;
  private volatile boolean anchored;

  /** @param wallNow the wall clock that store times are shown on */
  RedisLeaseJson(AtomicLong maxLeaseId, LongSupplier wallNow) {
    this.maxLeaseId = maxLeaseId;
    this.wallNow = wallNow;
  }

  /**
   * Store times are shown on this broker's wall clock, by one fixed offset taken at its first answer
   * (whose store time {@code now} is this broker's wall time then): every time this broker shows is
   * consistent with every other it shows. A time for people only; nothing decides by it.
   */
  void anchor(long now) {
    if (!anchored) {
      displayOffsetMs = wallNow.getAsLong() - now;
      anchored = true;
    }
  }

  /** @return store time {@code t} as a wall-clock instant */
  Instant wall(long t) {
    return Instant.ofEpochMilli(t + displayOffsetMs);
  }

  /** @return an event the script wrote (its times on the store's clock), with its times shown on the wall clock */
  LeaseEvent event(JsonObject e) {
    Long handoff = e.getLong("handoff_at");
    return new LeaseEvent(e.getLong("seq"), wall(e.getLong("time")),
        io.iqa.broker.store.LeaseEventType.fromWire(e.getString("type")),
        e.getLong("lease_id"), e.getInteger("gpu"), e.getString("owner"), e.getString("purpose"), e.getString("by"),
        e.getString("reason"), e.getBoolean("immediate"), handoff == null ? null : wall(handoff));
  }

  /** @return the request as the script reads it: the record's own fields, in snake_case, nulls left out */
  static JsonObject request(AcquireRequest r) {
    JsonObject req = new JsonObject(WireJson.toMap(r));
    req.getMap().values().removeIf(java.util.Objects::isNull); // a JSON null is cjson.null in Lua, which is true
    return req;
  }

  AcquireResult acquired(JsonObject res) {
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
        until == null ? null : wall(until));
  }

  /** @return the leases under {@code key}, by device, then lease_id */
  List<Lease> leases(JsonObject res, String key) {
    long now = res.getLong("now");
    List<Lease> list = new ArrayList<>();
    for (Object o : array(res, key)) {
      list.add(lease((JsonObject) o, now));
    }
    list.sort(Comparator.comparingInt(Lease::gpu).thenComparingLong(Lease::leaseId));
    return list;
  }

  Lease lease(JsonObject l, long now) {
    long granted = l.getLong("granted_at");
    long expires = l.getLong("expires_at");
    maxLeaseId.accumulateAndGet(l.getLong("id"), Math::max);
    String rv = l.getString("revoked");
    return new Lease(l.getLong("id"), l.getString("token_hash"), l.getInteger("gpu"), l.getString("owner"),
        l.getString("purpose", ""), l.getInteger("vram_mb"), l.getBoolean("exclusive"),
        priority(l.getValue("priority")), l.getLong("pid"),
        l.getValue("pid_identity") instanceof String id ? id : null, l.getString("host"),
        wall(granted), wall(expires), l.getLong("ttl_ms"), now - granted, expires - now,
        rv == null ? null : EndReason.fromWire(rv), rv == null ? null : wall(l.getLong("revoked_at")),
        l.getBoolean("yieldable", false),
        l.getLong("yield_requested_at") == null ? null : wall(l.getLong("yield_requested_at")));
  }

  static List<Waiter> waiters(JsonObject res) {
    long now = res.getLong("now");
    List<Waiter> waiting = new ArrayList<>();
    for (Object o : array(res, "waiting")) {
      JsonObject q = (JsonObject) o;
      JsonObject r = q.getJsonObject("req");
      waiting.add(new Waiter(r.getString("owner"), r.getString("purpose", ""), r.getInteger("gpu"),
          r.getInteger("vram_mb"), priority(r.getValue("priority")), now - q.getLong("enq")));
    }
    return waiting;
  }

  /** @throws StoreException LEASE_LOST (or revoked) or UNKNOWN_LEASE when the script says so */
  static void throwIfLostOrUnknown(JsonObject res) {
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
  static Priority priority(Object stored) {
    return stored instanceof Number n ? Priority.values()[n.intValue()] : Priority.fromWire(String.valueOf(stored));
  }

  /** @return the devices a broker stored, in the names of now (an older broker wrote {@code vram}) */
  static JsonArray storedDevices(String stored) {
    JsonArray devices = new JsonArray();
    for (Object o : new JsonArray(stored)) {
      JsonObject d = (JsonObject) o;
      devices.add(new JsonObject().put("index", d.getValue("index"))
          .put("vram_mb", d.containsKey("vram_mb") ? d.getValue("vram_mb") : d.getValue("vram")));
    }
    return devices;
  }

  /** Lua's JSON encoder writes an empty list as {}: read both as a list. */
  static JsonArray array(JsonObject json, String key) {
    Object v = json.getValue(key);
    return v instanceof JsonArray a ? a : new JsonArray();
  }
}
