package io.iqa.broker.http;

import io.iqa.protocol.config.ConfigNode;
import java.util.Set;

/**
 * The budget of the broker's open event streams ({@code /v1/gpu/events} and lease watches): the
 * stream keys of the {@code limits} block. Kept well below {@code max_connections}, so streams
 * can never take the connections that lease calls and {@code /health} need.
 *
 * @param maxStreams streams open at once, all clients together
 * @param maxStreamsPerClient streams one client may hold: a token's name when auth is on, else the
 *     client's address
 * @param bufferBytes what may wait unread for one stream; a client that lets more pile up (it does
 *     not read) is dropped with a last event saying why, and may reconnect and resume
 */
public record StreamLimits(int maxStreams, int maxStreamsPerClient, int bufferBytes) {

  public static final int DEFAULT_MAX_STREAMS = 512;
  public static final int DEFAULT_MAX_STREAMS_PER_CLIENT = 128;
  public static final int DEFAULT_BUFFER_BYTES = 64 * 1024;

  public static final Set<String> KEYS = Set.of("max_streams", "max_streams_per_client", "stream_buffer_bytes");

  public static StreamLimits defaults() {
    return new StreamLimits(DEFAULT_MAX_STREAMS, DEFAULT_MAX_STREAMS_PER_CLIENT, DEFAULT_BUFFER_BYTES);
  }

  /**
   * Reads these keys of the {@code limits} block (the caller checks the block's keys). Unset,
   * {@code max_streams} is 512 or half of {@code maxConnections}, whichever is less; set, it must
   * stay below {@code maxConnections}.
   */
  public static StreamLimits from(ConfigNode limits, int maxConnections) {
    int all = (int) limits.integer("max_streams", Math.max(1, Math.min(DEFAULT_MAX_STREAMS, maxConnections / 2)), 1,
        100_000);
    if (all >= maxConnections) {
      throw limits.refuse("max_streams", "(" + all + ") must stay below max_connections (" + maxConnections
          + "): lease calls and /health need connections too");
    }
    int perClient = (int) limits.integer("max_streams_per_client", Math.min(DEFAULT_MAX_STREAMS_PER_CLIENT, all), 1,
        100_000);
    return new StreamLimits(all, perClient,
        (int) limits.integer("stream_buffer_bytes", DEFAULT_BUFFER_BYTES, 4096, 64 << 20));
  }
}
