package io.iqa.broker.http;

import io.iqa.protocol.Text;
import io.iqa.protocol.wire.ErrorCode;
import io.iqa.protocol.wire.WatchEvent;
import io.iqa.server.HttpError;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The broker's open server-sent-event streams: opens them with the right headers within their
 * budget ({@link StreamLimits}: all together, per client), writes frames, sends a keep-alive
 * comment every {@code keepaliveMs} so proxies and clients can tell a quiet stream from a dead one,
 * drops a client that does not read (more than {@code stream_buffer_bytes} waiting: a last
 * {@code dropped} event, the stream ended, its connection closed 5 s later whatever it read, so
 * nothing piles up in the heap), and ends
 * them all when the broker stops. Event-loop only.
 */
public final class SseHub {

  private static final Logger LOG = LoggerFactory.getLogger(SseHub.class);
  public static final long KEEPALIVE_MS = 15_000;

  private final Vertx vertx;
  private final long keepaliveMs;
  private final StreamLimits limits;
  /** Every open stream, with the client it counts against. */
  private final Map<HttpServerResponse, String> open = new LinkedHashMap<>();
  private final Map<String, Integer> perClient = new HashMap<>();
  private long timer = -1;

  public SseHub(Vertx vertx, long keepaliveMs, StreamLimits limits) {
    this.vertx = vertx;
    this.keepaliveMs = keepaliveMs;
    this.limits = limits;
  }

  /**
   * Starts a stream on {@code ctx} with a first comment line; {@code onClose} runs when the client
   * leaves. @return the stream, or null when it is over its budget: {@code ctx} then failed with
   * 429 {@code too_many_streams}
   */
  public HttpServerResponse open(RoutingContext ctx, String comment, Runnable onClose) {
    String client = client(ctx);
    int mine = perClient.getOrDefault(client, 0);
    String over = open.size() >= limits.maxStreams()
        ? open.size() + " event streams are open, the most this broker holds (limits.max_streams=" + limits.maxStreams() + ")"
        : mine >= limits.maxStreamsPerClient()
            ? client + " holds " + mine + " event streams, the most one client may (limits.max_streams_per_client="
                + limits.maxStreamsPerClient() + ")"
            : null;
    if (over != null) {
      ctx.response().putHeader("Connection", "close");
      ctx.fail(new HttpError(429, ErrorCode.TOO_MANY_STREAMS, over + "; close one, or retry later", null, 5));
      return null;
    }
    HttpServerResponse response = ctx.response();
    response.setChunked(true)
        .setWriteQueueMaxSize(limits.bufferBytes())
        .putHeader("Content-Type", "text/event-stream")
        .putHeader("Cache-Control", "no-cache")
        .putHeader("X-Accel-Buffering", "no");
    response.write(": " + comment + "\n\n");
    open.put(response, client);
    perClient.merge(client, 1, Integer::sum);
    response.closeHandler(v -> {
      forget(response);
      onClose.run();
    });
    if (timer < 0) {
      timer = vertx.setPeriodic(keepaliveMs, t -> List.copyOf(open.keySet()).forEach(r -> write(r, ": keep-alive\n\n")));
    }
    return response;
  }

  /** Writes one watch-channel event; {@code id} may be null. */
  public void send(HttpServerResponse response, WatchEvent event, Long id, JsonObject data) {
    send(response, event.wireName(), id, data);
  }

  /** Writes one event; {@code id} may be null. */
  public void send(HttpServerResponse response, String event, Long id, JsonObject data) {
    write(response, (id == null ? "" : "id: " + id + "\n") + "event: " + event + "\ndata: " + data.encode() + "\n\n");
  }

  private void write(HttpServerResponse response, String frame) {
    if (response.closed() || response.ended()) {
      return;
    }
    if (response.writeQueueFull()) {
      drop(response);
      return;
    }
    response.write(frame);
  }

  /** A client that does not read: told why (if it ever reads again), then cut off. */
  private void drop(HttpServerResponse response) {
    String client = open.get(response);
    LOG.warn("dropping an event stream of {}: it does not read (more than limits.stream_buffer_bytes={} bytes "
        + "wait for it)", Text.printable(String.valueOf(client), 100), limits.bufferBytes());
    response.write("event: dropped\ndata: " + new JsonObject().put("reason", "slow_reader")
        .put("message", "more than " + limits.bufferBytes() + " bytes waited unread; reconnect (with Last-Event-ID "
            + "to resume the events)").encode() + "\n\n");
    forget(response);
    response.end();
    // Ended, but what waits may never be read: the connection goes in a moment whatever it does.
    vertx.setTimer(5000, t -> {
      if (!response.closed()) {
        response.reset();
      }
    });
  }

  /** Ends one stream. */
  public void end(HttpServerResponse response) {
    forget(response);
    if (!response.closed() && !response.ended()) {
      response.end();
    }
  }

  /** @return how many streams are open now */
  public int size() {
    return open.size();
  }

  /** Ends every open stream (broker stopping). */
  public void closeAll() {
    List.copyOf(open.keySet()).forEach(this::end);
    if (timer >= 0) {
      vertx.cancelTimer(timer);
      timer = -1;
    }
  }

  private void forget(HttpServerResponse response) {
    String client = open.remove(response);
    if (client != null) {
      perClient.computeIfPresent(client, (k, n) -> n <= 1 ? null : n - 1);
    }
  }

  /** @return whom a stream counts against: the token's name when auth is on, else the client's address */
  private static String client(RoutingContext ctx) {
    Principal p = ctx.get(BearerAuth.PRINCIPAL);
    if (p != null && p != Principal.OPEN && p.name() != null) {
      return "token '" + p.name() + "'";
    }
    return ctx.request().remoteAddress() == null ? "unknown client" : ctx.request().remoteAddress().hostAddress();
  }
}
