package io.iqa.broker;

import io.iqa.broker.http.StreamLimits;
import io.iqa.protocol.config.ConfigException;
import io.iqa.protocol.config.Range;
import io.iqa.server.ServerLimits;

/**
 * The broker's {@code limits} block: a server's HTTP limits ({@link ServerLimits}, the keys the
 * sidecar's block has too) and the budget of its event streams ({@link StreamLimits}). Unset,
 * {@code max_streams} is 512 or half of {@code max_connections}, whichever is less; set, it must
 * stay below {@code max_connections}.
 */
public record BrokerLimits(@Range(min = 100, max = 3_600_000) long headerTimeoutMs,
    @Range(min = 100, max = 3_600_000) long idleTimeoutMs, @Range(min = 100, max = 3_600_000) long bodyTimeoutMs,
    @Range(min = 1, max = 1_000_000) int maxConnections, @Range(min = 256, max = 1_048_576) int maxUriBytes,
    @Range(min = 1024, max = 1_048_576) int maxHeaderBytes, @Range(min = 1, max = 100_000) Integer maxStreams,
    @Range(min = 1, max = 100_000) Integer maxStreamsPerClient,
    @Range(min = 4096, max = 64 << 20) int streamBufferBytes) {

  public static final int DEFAULT_MAX_STREAMS = 512;
  public static final int DEFAULT_MAX_STREAMS_PER_CLIENT = 128;
  private static final ServerLimits SERVER = ServerLimits.DEFAULTS;
  static final BrokerLimits DEFAULTS = new BrokerLimits(SERVER.headerTimeoutMs(), SERVER.idleTimeoutMs(),
      SERVER.bodyTimeoutMs(), SERVER.maxConnections(), SERVER.maxUriBytes(), SERVER.maxHeaderBytes(), null, null,
      64 * 1024);

  public BrokerLimits {
    if (maxStreams != null && maxStreams >= maxConnections) {
      throw new ConfigException("max_streams (" + maxStreams + ") must stay below max_connections (" + maxConnections
          + "): lease calls and /health need connections too");
    }
  }

  /** @return the HTTP limits of the broker's server */
  public ServerLimits server() {
    return new ServerLimits(headerTimeoutMs, idleTimeoutMs, bodyTimeoutMs, maxConnections, maxUriBytes,
        maxHeaderBytes);
  }

  /** @return the budget of its event streams and lease watches */
  public StreamLimits streams() {
    int all = maxStreams != null ? maxStreams : Math.max(1, Math.min(DEFAULT_MAX_STREAMS, maxConnections / 2));
    return new StreamLimits(all, maxStreamsPerClient != null ? maxStreamsPerClient
        : Math.min(DEFAULT_MAX_STREAMS_PER_CLIENT, all), streamBufferBytes);
  }
}
