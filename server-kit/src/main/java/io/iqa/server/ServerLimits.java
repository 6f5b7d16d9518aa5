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

  public static final long DEFAULT_HEADER_TIMEOUT_MS = 10_000;
  public static final long DEFAULT_IDLE_TIMEOUT_MS = 30_000;
  public static final long DEFAULT_BODY_TIMEOUT_MS = 30_000;
  public static final int DEFAULT_MAX_CONNECTIONS = 1024;
  public static final int DEFAULT_MAX_URI_BYTES = 8192;
  public static final int DEFAULT_MAX_HEADER_BYTES = 16_384;

  /** The keys of a {@code limits} block that this record reads. */
  public static final Set<String> KEYS = Set.of("header_timeout_ms", "idle_timeout_ms", "body_timeout_ms",
      "max_connections", "max_uri_bytes", "max_header_bytes");

  public static ServerLimits defaults() {
    return new ServerLimits(DEFAULT_HEADER_TIMEOUT_MS, DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_BODY_TIMEOUT_MS,
        DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_URI_BYTES, DEFAULT_MAX_HEADER_BYTES);
  }

  /** Reads these keys of {@code limits}; the caller checks the block's keys (it may hold others). */
  public static ServerLimits from(ConfigNode limits) {
    return new ServerLimits(
        limits.integer("header_timeout_ms", DEFAULT_HEADER_TIMEOUT_MS, 100, 3_600_000),
        limits.integer("idle_timeout_ms", DEFAULT_IDLE_TIMEOUT_MS, 100, 3_600_000),
        limits.integer("body_timeout_ms", DEFAULT_BODY_TIMEOUT_MS, 100, 3_600_000),
        (int) limits.integer("max_connections", DEFAULT_MAX_CONNECTIONS, 1, 1_000_000),
        (int) limits.integer("max_uri_bytes", DEFAULT_MAX_URI_BYTES, 256, 1_048_576),
        (int) limits.integer("max_header_bytes", DEFAULT_MAX_HEADER_BYTES, 1024, 1_048_576));
  }
}
