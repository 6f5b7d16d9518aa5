package io.iqa.server;

import io.iqa.protocol.config.ConfigNode;
import java.util.Set;

/**
 * What a server refuses, and when it closes a connection: the {@code limits} block of the broker's
 * and the sidecar's config. Every refusal is a JSON answer (or, for a connection that never sent a
 * request, a closed socket).
 *
 * @param headerTimeoutMs a new connection must deliver a complete request head within this long
 *     (an idle socket, a half-sent head or a head dripping in byte by byte is closed)
 * @param idleTimeoutMs a kept-alive connection with no request in progress is closed after this
 *     long (its next request head must be complete within it); a request in progress (a long-poll,
 *     an event stream) is not idle
 * @param bodyTimeoutMs once its head has arrived, a request's body must arrive within this long
 *     (else 408 {@code request_timeout})
 * @param maxConnections beyond this many open connections a request answers 503 {@code overloaded}
 *     (except {@code GET /health}) and its connection is closed
 * @param maxUriBytes a longer request line answers 414 {@code uri_too_long}
 * @param maxHeaderBytes larger headers answer 431 {@code headers_too_large}
 */
public record ServerLimits(long headerTimeoutMs, long idleTimeoutMs, long bodyTimeoutMs, int maxConnections,
    int maxUriBytes, int maxHeaderBytes) {

  /** The keys of a {@code limits} block that this record reads. */
  public static final Set<String> KEYS = Set.of("header_timeout_ms", "idle_timeout_ms", "body_timeout_ms",
      "max_connections", "max_uri_bytes", "max_header_bytes");

  /** @return the limits of a server whose config says none: docs/broker.md and docs/sidecar.md list them */
  public static ServerLimits defaults() {
    return new ServerLimits(10_000, 30_000, 30_000, 1024, 8192, 16_384);
  }

  /** Reads these keys of {@code limits}; the caller checks the block's keys (it may hold others). */
  public static ServerLimits from(ConfigNode limits) {
    ServerLimits d = defaults();
    return new ServerLimits(
        limits.integer("header_timeout_ms", d.headerTimeoutMs, 100, 3_600_000),
        limits.integer("idle_timeout_ms", d.idleTimeoutMs, 100, 3_600_000),
        limits.integer("body_timeout_ms", d.bodyTimeoutMs, 100, 3_600_000),
        (int) limits.integer("max_connections", d.maxConnections, 1, 1_000_000),
        (int) limits.integer("max_uri_bytes", d.maxUriBytes, 256, 1_048_576),
        (int) limits.integer("max_header_bytes", d.maxHeaderBytes, 1024, 1_048_576));
  }
}
