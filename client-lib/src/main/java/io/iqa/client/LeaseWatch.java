package io.iqa.client;

import io.iqa.protocol.wire.EndReason;
import io.iqa.protocol.wire.LeaseView;
import com.fasterxml.jackson.databind.JsonNode;
import io.iqa.protocol.wire.WatchEvent;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;
import java.util.concurrent.ScheduledFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The holder's side of {@code GET /v1/gpu/lease/watch}: a server-sent event stream on which the
 * broker says at once that a lease is revoked or has ended. Reconnects with back-off while the
 * lease lives; a stream silent for longer than three keep-alive periods is taken for dead and
 * reopened. A {@code revoked}, {@code ended} (a 404/410 answer is taken for one) or {@code
 * yield_requested} event becomes the {@link LeaseRules} event of the same meaning. The renews and the
 * holder's own deadline stay in charge when the stream is down.
 */
final class LeaseWatch {

  private static final Logger LOG = LoggerFactory.getLogger(LeaseWatch.class);
  /** The broker's keep-alive period on a watch (its SseHub.KEEPALIVE_MS). */
  private static final long KEEPALIVE_MS = 15_000;
  private static final long SILENCE_LIMIT_MS = 3 * KEEPALIVE_MS;

  private final Http broker;
  private final LeaseView lease;
  private final LeaseScheduler thread;
  private volatile boolean closed;
  private volatile Flow.Subscription subscription;
  private volatile long lastHeardNanos = System.nanoTime();
  private long backoffMs = 250;
  private ScheduledFuture<?> silenceCheck;

  /** @param thread the lease's: its events and this watch's timers run there */
  LeaseWatch(Http broker, LeaseView lease, LeaseScheduler thread) {
    this.broker = broker;
    this.lease = lease;
    this.thread = thread;
  }

  void open() {
    if (closed) {
      return;
    }
    silenceCheck = thread.every(this::checkSilence, SILENCE_LIMIT_MS, SILENCE_LIMIT_MS / 3);
    connect();
  }

  void close() {
    closed = true;
    if (silenceCheck != null) {
      silenceCheck.cancel(false);
    }
    Flow.Subscription s = subscription;
    if (s != null) {
      s.cancel();
    }
  }

  private void connect() {
    if (closed) {
      return;
    }
    lastHeardNanos = System.nanoTime();
    var request = broker.request("/v1/gpu/lease/watch", Duration.ofSeconds(10))
        .header("Lease-Token", lease.token()).header("Accept", "text/event-stream").GET().build();
    Frames frames = new Frames();
    CompletableFuture<HttpResponse<Void>> sent = broker.client().sendAsync(request, info -> info.statusCode() == 200
        ? HttpResponse.BodySubscribers.fromLineSubscriber(frames)
        : HttpResponse.BodySubscribers.mapping(HttpResponse.BodySubscribers.ofByteArray(), bytes -> {
          refused(info.statusCode(), Http.parse(bytes));
          return null;
        }));
    sent.whenComplete((r, e) -> {
      if (e != null) {
        LOG.debug("watch of lease {} failed: {}", lease.leaseId(), e.toString());
      }
      reconnectLater();
    });
  }

  private void refused(int status, JsonNode body) {
    if (status == 404 || status == 410) {
      closed = true;
      onEvent(WatchEvent.ENDED, Http.object()
          .put("reason", body.path("reason").asText(status == 404 ? "unknown_lease" : "ended")));
    } else {
      LOG.debug("watch of lease {} answered {}: {}", lease.leaseId(), status, body);
    }
  }

  /** What a watch event is for the lease's rules: a revocation, an end, a yield request; others are ignored. */
  private void onEvent(WatchEvent event, JsonNode data) {
    long now = System.nanoTime();
    if (event == WatchEvent.REVOKED) {
      String reason = data.path("reason").asText("force_released");
      String by = data.path("by").isTextual() ? " by " + data.path("by").asText() : "";
      String why = data.path("message").isTextual() ? ": " + data.path("message").asText() : "";
      thread.submit(new LeaseRules.Revoked(now, EndReason.heard(reason),
          "lease " + lease.leaseId() + " revoked (" + reason + by + why + ")"));
    } else if (event == WatchEvent.YIELD_REQUESTED) {
      thread.submit(new LeaseRules.YieldAsked(now, data.path("message").asText("a waiter wants gpu " + lease.gpu())));
    } else if (event == WatchEvent.ENDED) {
      thread.submit(new LeaseRules.Ended(now,
          EndReason.heard(data.path("reason").asText(data.path("event").asText("ended")))));
    }
  }

  private void reconnectLater() {
    if (closed) {
      return;
    }
    long delay = backoffMs;
    backoffMs = Math.min(5000, backoffMs * 2);
    thread.later(this::connect, delay);
  }

  private void checkSilence() {
    if (!closed && (System.nanoTime() - lastHeardNanos) / 1_000_000 > SILENCE_LIMIT_MS) {
      LOG.debug("watch of lease {} silent for {} ms; reopening it", lease.leaseId(), SILENCE_LIMIT_MS);
      Flow.Subscription s = subscription;
      if (s != null) {
        s.cancel();
      }
    }
  }

  /** Reads lines into server-sent-event frames: {@code event:} and {@code data:} until a blank line. */
  private final class Frames implements Flow.Subscriber<String> {
    private String event;
    private final StringBuilder data = new StringBuilder();

    @Override
    public void onSubscribe(Flow.Subscription s) {
      subscription = s;
      backoffMs = 250;
      s.request(Long.MAX_VALUE);
    }

    @Override
    public void onNext(String line) {
      lastHeardNanos = System.nanoTime();
      if (line.isEmpty()) {
        if (event != null) {
          JsonNode json = Http.parse(data.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
          WatchEvent known = WatchEvent.fromWire(event);
          event = null;
          data.setLength(0);
          if (known != null) {
            onEvent(known, json);
          }
        }
      } else if (line.startsWith("event:")) {
        event = line.substring(6).trim();
      } else if (line.startsWith("data:")) {
        data.append(line.substring(5).trim());
      }
    }

    @Override
    public void onError(Throwable t) {
      subscription = null;
    }

    @Override
    public void onComplete() {
      subscription = null;
    }
  }
}
