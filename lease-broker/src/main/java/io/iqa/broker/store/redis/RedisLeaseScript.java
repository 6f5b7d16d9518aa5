package io.iqa.broker.store.redis;

import io.iqa.broker.store.StoreClock;
import io.iqa.broker.store.StoreException;
import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import io.vertx.redis.client.ResponseType;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Objects;

/**
 * {@code lease-store.lua} on one Redis: loaded at start (and again by the call itself when a
 * restarted Redis has forgotten it); every store operation is one call of it, with the broker's
 * settings and identity. A Redis that does not answer is a {@link StoreException} UNAVAILABLE
 * naming the URL; the script failing is a bug and says which operation.
 */
final class RedisLeaseScript {

  private static final String SCRIPT = loadScript();

  private final Redis redis;
  private final String url;
  private final String prefix;
  private final String origin;
  private final StoreClock clock;
  private String sha;
  private JsonObject settings;
  /** How long one call may take: past it the call fails as the store unavailable (a paused Redis). */
  private long commandTimeoutMs;
  /**
   * This broker's anchor on the store's clock: the store time an answer carried and this broker's
   * monotonic time when it arrived. Each call asks the store to move its clock to anchor + the
   * monotonic time since (an estimate that never runs ahead of real time); an answer whose time is
   * ahead of that estimate (another broker moved the clock) becomes the new anchor.
   */
  private long anchorStoreMs = -1;
  private long anchorMonoNs;
  /** The id of the lease state this broker has seen in Redis; another one means the state was lost. */
  private String stateId;

  /** @param clock null: the script decides on Redis's own clock; else on this one (tests) */
  RedisLeaseScript(Redis redis, String url, String prefix, String origin, StoreClock clock) {
    this.redis = redis;
    this.url = url;
    this.prefix = prefix;
    this.origin = origin;
    this.clock = clock;
  }

  void commandTimeoutMs(long ms) {
    this.commandTimeoutMs = ms;
  }

  /** {@code call} within the command timeout: a Redis that does not answer (paused, wedged) is unavailable. */
  <T> Future<T> timed(Future<T> call, String what) {
    return call.timeout(commandTimeoutMs, java.util.concurrent.TimeUnit.MILLISECONDS).recover(e ->
        e instanceof java.util.concurrent.TimeoutException
            ? Future.failedFuture(new StoreException(StoreException.Kind.UNAVAILABLE, "lease store unavailable: redis "
                + "at " + url + " did not answer " + what + " within store.command_timeout_ms=" + commandTimeoutMs
                + " (the change may still be made when it wakes: a grant nobody received ends by its ttl)", null, e))
            : Future.failedFuture(e));
  }

  /** Loads the script; {@code settings} go with every call (the script keeps nothing of a broker). */
  Future<Void> load(JsonObject settings) {
    this.settings = settings;
    return timed(redis.send(Request.cmd(Command.SCRIPT).arg("LOAD").arg(SCRIPT)), "SCRIPT LOAD").map(loaded -> {
      sha = loaded.toString();
      return null;
    });
  }

  /** @param floor the highest lease id this broker has seen: ids continue above it */
  Future<JsonObject> call(String op, JsonObject args, long floor) {
    if (sha == null) {
      return Future.failedFuture(new StoreException(StoreException.Kind.UNAVAILABLE, "redis store not started"));
    }
    if (clock != null) {
      args.put("now", clock.wallMs());
    } else {
      args.put("adv", estimate(System.nanoTime()));
    }
    args.put("init", stateId);
    // An absent argument is left out: a JSON null reaches Lua as cjson.null, which is true there.
    args.getMap().values().removeIf(Objects::isNull);
    String payload = args.put("s", settings).put("origin", origin).put("floor", floor).encode();
    Future<Response> sent = redis.send(Request.cmd(Command.EVALSHA).arg(sha).arg(0).arg(prefix).arg(op).arg(payload))
        .recover(e -> {
          // A restarted Redis has forgotten the script: load it again with the call itself.
          if (isError(e) && e.toString().startsWith("NOSCRIPT")) {
            return redis.send(Request.cmd(Command.EVAL).arg(SCRIPT).arg(0).arg(prefix).arg(op).arg(payload));
          }
          return Future.failedFuture(e);
        })
        .recover(e -> Future.failedFuture(isError(e)
            ? new IllegalStateException("redis lease script failed in '" + op + "': " + e, e)
            : unavailable(e)));
    return timed(sent, "'" + op + "'").map(resp -> answered(new JsonObject(resp.toString())));
  }

  /** @return the store time this broker estimates for {@code monoNs}, or null before its first answer */
  private synchronized Long estimate(long monoNs) {
    return anchorStoreMs < 0 ? null : anchorStoreMs + (monoNs - anchorMonoNs) / 1_000_000;
  }

  private synchronized JsonObject answered(JsonObject res) {
    long arrived = System.nanoTime();
    Long now = res.getLong("now");
    Long estimate = estimate(arrived);
    if (now != null && (estimate == null || now > estimate)) {
      anchorStoreMs = now;
      anchorMonoNs = arrived;
    }
    if (res.getValue("init") instanceof String id) {
      stateId = id;
    }
    return res;
  }

  StoreException unavailable(Throwable e) {
    return new StoreException(StoreException.Kind.UNAVAILABLE,
        "lease store unavailable: redis at " + url + " does not answer (" + e.getMessage() + ")", null, e);
  }

  private static boolean isError(Throwable e) {
    return e instanceof Response r && r.type() == ResponseType.ERROR;
  }

  private static String loadScript() {
    try (InputStream in = RedisLeaseScript.class.getResourceAsStream("lease-store.lua")) {
      if (in == null) {
        throw new IllegalStateException("lease-store.lua missing from the classpath");
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new IllegalStateException("cannot read lease-store.lua", e);
    }
  }
}
