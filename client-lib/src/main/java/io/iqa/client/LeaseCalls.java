package io.iqa.client;

import io.iqa.protocol.wire.EndReason;
import io.iqa.protocol.wire.ReleaseRequest;
import io.iqa.protocol.wire.RenewRequest;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/**
 * A lease's two calls to the broker, renew and release, and what a renew's answer means to its
 * {@link LeaseRules}: 200 moves the deadline on, 404 and 410 lose the lease (with the broker's
 * reason), anything else (no answer, a 5xx) is a failure to retry.
 */
record LeaseCalls(Http broker, String token, long ttlNanos) {

  /** @return the event the renew's answer is, never failed */
  CompletableFuture<LeaseRules.Event> renew(LeaseRules.SendRenew r) {
    return broker.postJson("/v1/gpu/renew", Http.body(new RenewRequest(token, null)), Duration.ofNanos(r.timeoutNanos()))
        .handle((answer, error) -> {
          long now = System.nanoTime();
          if (error == null && answer.status() == 200) {
            return new LeaseRules.RenewOk(now, r.sentAt(),
                (long) (answer.body().path("ttl_s").asDouble(ttlNanos / 1e9) * 1e9));
          } else if (error == null && (answer.status() == 410 || answer.status() == 404)) {
            EndReason reason = answer.status() == 404 ? EndReason.UNKNOWN_LEASE
                : EndReason.heard(answer.body().path("reason").asText(null));
            return new LeaseRules.RenewRefused(now, reason, answer.body().path("message").asText(reason.wireName()));
          }
          String why = error != null ? String.valueOf(error.getCause() != null ? error.getCause().getMessage()
              : error.getMessage()) : answer.status() + " " + answer.body().path("message").asText();
          return new LeaseRules.RenewFailed(now, why);
        });
  }

  /** @param why the release's reason for the broker's event ({@code yielded}, ...), or null */
  CompletableFuture<?> release(String why) {
    return broker.postJson("/v1/gpu/release", Http.body(new ReleaseRequest(token, why)), Duration.ofSeconds(10));
  }
}
