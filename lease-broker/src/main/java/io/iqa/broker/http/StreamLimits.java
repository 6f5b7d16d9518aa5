package io.iqa.broker.http;

/**
 * The budget of the broker's open event streams ({@code /v1/gpu/events} and lease watches): the
 * stream keys of the {@code limits} block ({@link io.iqa.broker.BrokerLimits}). Kept well below
 * {@code max_connections}, so streams can never take the connections that lease calls and
 * {@code /health} need.
 *
 * @param maxStreams streams open at once, all clients together
 * @param maxStreamsPerClient streams one client may hold: a token's name when auth is on, else the
 *     client's address
 * @param bufferBytes what may wait unread for one stream; a client that lets more pile up (it does
 *     not read) is dropped with a last event saying why, and may reconnect and resume
 */
public record StreamLimits(int maxStreams, int maxStreamsPerClient, int bufferBytes) {
}
