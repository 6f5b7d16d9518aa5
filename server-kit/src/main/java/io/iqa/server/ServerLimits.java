package io.iqa.server;

import io.iqa.protocol.config.Range;

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
public record ServerLimits(@Range(min = 100, max = 3_600_000) long headerTimeoutMs,
    @Range(min = 100, max = 3_600_000) long idleTimeoutMs, @Range(min = 100, max = 3_600_000) long bodyTimeoutMs,
    @Range(min = 1, max = 1_000_000) int maxConnections, @Range(min = 256, max = 1_048_576) int maxUriBytes,
    @Range(min = 1024, max = 1_048_576) int maxHeaderBytes) {

  /** The limits of a server whose config says none: docs/broker.md and docs/sidecar.md list them. */
  public static final ServerLimits DEFAULTS = new ServerLimits(10_000, 30_000, 30_000, 1024, 8192, 16_384);
}
