package io.iqa.broker.store.redis;

import io.iqa.broker.gpu.GpuDevice;
import io.iqa.broker.store.StoreListener;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisConnection;
import io.vertx.redis.client.RedisOptions;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The pub/sub side of the Redis store: one subscribed connection that delivers other brokers'
 * events and wake-ups to this broker, and reconnects by itself (with back-off) when Redis goes
 * away. After a reconnect every GPU is woken, because notifications sent meanwhile are lost.
 */
final class RedisNotifications {

  private static final Logger LOG = LoggerFactory.getLogger(RedisNotifications.class);
  private static final long MAX_BACKOFF_MS = 2000;

  private final Vertx vertx;
  private final Redis client;
  private final String channel;
  private final String origin;
  private final StoreListener listener;
  private final List<GpuDevice> gpus;
  private final RedisLeaseJson json;
  private RedisConnection connection;
  private long backoffMs = 50;
  private boolean closed;
  private boolean lostLogged;

  RedisNotifications(Vertx vertx, String url, String channel, String origin, StoreListener listener,
      List<GpuDevice> gpus, RedisLeaseJson json) {
    this.json = json;
    this.vertx = vertx;
    this.client = Redis.createClient(vertx, new RedisOptions().setConnectionString(url).setMaxPoolSize(1));
    this.channel = channel;
    this.origin = origin;
    this.listener = listener;
    this.gpus = gpus;
  }

  Future<Void> start() {
    return subscribe();
  }

  Future<Void> close() {
    closed = true;
    Future<Void> c = connection == null ? Future.succeededFuture() : connection.close();
    return c.eventually(client::close);
  }

  private Future<Void> subscribe() {
    return client.connect().compose(conn -> {
      connection = conn;
      conn.handler(this::onMessage);
      conn.exceptionHandler(e -> lost(conn, e.getMessage()));
      conn.endHandler(v -> lost(conn, "connection closed"));
      return conn.send(Request.cmd(Command.SUBSCRIBE).arg(channel)).<Void>mapEmpty();
    });
  }

  private void lost(RedisConnection conn, String why) {
    if (closed || conn != connection) {
      return;
    }
    connection = null;
    if (!lostLogged) {
      LOG.warn("lost the redis notification channel ({}); reconnecting", why);
      lostLogged = true;
    }
    reconnectLater();
  }

  private void reconnectLater() {
    vertx.setTimer(backoffMs, t -> {
      if (closed) {
        return;
      }
      subscribe().onSuccess(v -> {
        LOG.info("redis notification channel back");
        lostLogged = false;
        backoffMs = 50;
        gpus.forEach(g -> listener.onWake(g.index()));
        listener.onResync();
      }).onFailure(e -> {
        backoffMs = Math.min(MAX_BACKOFF_MS, backoffMs * 2);
        reconnectLater();
      });
    });
  }

  private void onMessage(Response msg) {
    if (msg == null || msg.size() < 3 || !"message".equals(msg.get(0).toString())) {
      return;
    }
    JsonObject note = new JsonObject(msg.get(2).toString());
    if (origin.equals(note.getString("origin"))) {
      return;
    }
    for (Object e : RedisLeaseJson.array(note, "events")) {
      listener.onEvent(json.event((JsonObject) e), false);
    }
    for (Object gpu : RedisLeaseJson.array(note, "wakes")) {
      listener.onWake(((Number) gpu).intValue());
    }
  }
}
