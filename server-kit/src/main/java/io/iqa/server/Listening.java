package io.iqa.server;

/**
 * Where a server listens and what requests it takes at all: its {@code host} and {@code port}, the
 * {@code limits} block and the request {@code policy} ({@code allowed_hosts}, {@code
 * allowed_origins}). The same keys in the broker's and the sidecar's config.
 */
public record Listening(String host, int port, ServerLimits limits, RequestPolicy policy) {
}
