package io.iqa.sidecar.service;

import com.fasterxml.jackson.annotation.JsonProperty;
import io.iqa.protocol.config.Matches;
import io.iqa.protocol.config.Range;
import io.iqa.protocol.wire.LeaseRequest;
import io.iqa.protocol.wire.Priority;

/**
 * The sidecar's {@code lease} block: what to ask the broker for (the {@code broker} block,
 * {@link BrokerAddress}, says where it is).
 *
 * @param required whether a sidecar that gets no lease must fail to start; null: where an NVIDIA
 *     device is visible ({@link SidecarOptions#leaseRequired})
 * @param yieldable {@code yield}: give the GPU back when a request of equal or higher priority waits for it
 */
public record LeaseOptions(@Matches(value = LeaseRequest.OWNER_PATTERN, what = LeaseRequest.OWNER_RULE) String owner,
    String purpose, @Range(min = 1, max = 86_400) double ttlS, @Range(min = 0, max = 86_400) double waitS,
    @Range(min = 1, max = Integer.MAX_VALUE) Integer vramMb, @Range(min = 0, max = 1024) Integer gpu,
    Priority priority, Boolean required, @JsonProperty("yield") boolean yieldable) {

  static final LeaseOptions DEFAULTS = new LeaseOptions("iqa-sidecar", "image scoring", 60, 60, null, null,
      Priority.NORMAL, null, true);

  /** The lease request this block describes, for this process ({@code yield} included). */
  public LeaseRequest request() {
    return LeaseRequest.of(owner).withPurpose(purpose).withTtl(ttlS).withWait(waitS).withPriority(priority)
        .withGpu(gpu).withVramMb(vramMb).withYield(yieldable);
  }

  /**
   * The sidecar's {@code broker} block: where the broker is. A key of the lease block left there (an
   * older config) is refused with where it moved ({@link SidecarOptions#read}).
   *
   * @param url the broker's URL, or null when no broker is configured
   */
  public record BrokerAddress(@Matches(value = Matches.HTTP_URL, what = Matches.HTTP_URL_RULE) String url,
      @Matches(value = Matches.TOKEN, what = Matches.TOKEN_RULE) String token) {
  }
}
