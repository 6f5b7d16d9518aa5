package io.iqa.protocol.wire;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import io.iqa.protocol.Text;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;
import java.util.regex.Pattern;

/**
 * The body of {@code POST /v1/gpu/lease}: what a program asks the broker for. Clients build it
 * with {@link #of(String)} and the {@code with*} methods and send {@link #toMap()}; the broker
 * checks it against its OpenAPI document, then reads it with {@link #fromMap}, which adds its
 * defaults and its configured bounds.
 *
 * @param owner who holds the lease (letters, digits, {@code . _ -}; at most 64)
 * @param purpose shown in the broker's status
 * @param ttlS seconds the lease lives without a renew; the holder stops by its own deadline (the
 *     request's send time + ttl) whenever no renew succeeded
 * @param waitS seconds to wait in the broker's queue (0: answer 409 at once when busy)
 * @param gpu device index, or null for any
 * @param vramMb VRAM to reserve, or null for the whole device
 * @param pid holder pid (the broker ends the lease when it exits), or null
 * @param host the holder's host name, with {@code pid}; null: the broker's host when asked over loopback
 * @param yieldable the holder gives the GPU back when asked: a request of equal or higher priority
 *     waiting for it makes the broker ask ({@code yield_requested})
 * @param preempt while waiting, ask holders of a lower priority to yield even if they did not offer
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record LeaseRequest(String owner, String purpose, double ttlS, double waitS, Integer gpu, Integer vramMb,
    Priority priority, Long pid, String host,
    @JsonProperty("yield") @JsonInclude(JsonInclude.Include.NON_DEFAULT) boolean yieldable,
    @JsonInclude(JsonInclude.Include.NON_DEFAULT) boolean preempt) {

  /** What an owner name may be (the broker's document says the same). */
  public static final String OWNER_PATTERN = "[A-Za-z0-9._-]{1,64}";
  public static final Pattern OWNER = Pattern.compile(OWNER_PATTERN);
  public static final String OWNER_RULE = "1 to 64 letters, digits, '.', '_' or '-'";

  /** A whole-device lease on any GPU for {@code owner}: ttl 60 s, no waiting, this process's pid. */
  public static LeaseRequest of(String owner) {
    return new LeaseRequest(owner, "", 60, 0, null, null, Priority.NORMAL, ProcessHandle.current().pid(), null,
        false, false);
  }

  /**
   * Reads a body the broker's OpenAPI document has checked (types, patterns, fields): what is absent
   * or null takes its default, and the bounds of the broker's config are checked here.
   *
   * @param defaultTtlS the ttl when the body names none
   * @param maxTtlS the longest ttl allowed
   * @param maxWaitS the longest wait allowed
   * @throws WireFormatException for a ttl or wait beyond the config's bounds
   */
  public static LeaseRequest fromMap(Map<String, ?> body, double defaultTtlS, double maxTtlS, double maxWaitS) {
    Map<String, Object> given = new HashMap<>(body);
    given.values().removeIf(Objects::isNull);
    given.putIfAbsent("purpose", "");
    given.putIfAbsent("ttl_s", defaultTtlS);
    given.putIfAbsent("priority", Priority.NORMAL.wireName());
    LeaseRequest r = WireJson.fromMap(given, LeaseRequest.class);
    within("ttl_s", r.ttlS, 1, maxTtlS);
    within("wait_s", r.waitS, 0, maxWaitS);
    return r;
  }

  private static void within(String field, double value, double min, double max) {
    if (!(value >= min && value <= max)) {
      throw new WireFormatException(field + " must be between " + Text.number(min) + " and "
          + Text.number(max) + ", not " + Text.number(value));
    }
  }

  /** @return the body to send: fields that are null or false are left out, and the host without a pid */
  public Map<String, Object> toMap() {
    return WireJson.toMap(pid == null && host != null ? withHost(null) : this);
  }

  public LeaseRequest withPurpose(String p) {
    return with(b -> b.purpose = p);
  }

  public LeaseRequest withTtl(double seconds) {
    return with(b -> b.ttlS = seconds);
  }

  public LeaseRequest withWait(double seconds) {
    return with(b -> b.waitS = seconds);
  }

  /** @param index a device index, or null for any device */
  public LeaseRequest withGpu(Integer index) {
    return with(b -> b.gpu = index);
  }

  /** @param mb VRAM to reserve, or null for the whole device */
  public LeaseRequest withVramMb(Integer mb) {
    return with(b -> b.vramMb = mb);
  }

  public LeaseRequest withPriority(Priority p) {
    return with(b -> b.priority = p);
  }

  /** @param p the holder's pid, or null for none */
  public LeaseRequest withPid(Long p) {
    return with(b -> b.pid = p);
  }

  /** @param h the host {@code pid} runs on */
  public LeaseRequest withHost(String h) {
    return with(b -> b.host = h);
  }

  /** @param y offer to yield the GPU when a request of equal or higher priority waits for it */
  public LeaseRequest withYield(boolean y) {
    return with(b -> b.yieldable = y);
  }

  /** @param p while waiting, ask holders of a lower priority to yield */
  public LeaseRequest withPreempt(boolean p) {
    return with(b -> b.preempt = p);
  }

  private LeaseRequest with(Consumer<Fields> change) {
    Fields b = new Fields(this);
    change.accept(b);
    return new LeaseRequest(b.owner, b.purpose, b.ttlS, b.waitS, b.gpu, b.vramMb, b.priority, b.pid, b.host,
        b.yieldable, b.preempt);
  }

  /** A request's fields, to change one. */
  private static final class Fields {
    final String owner;
    String purpose;
    double ttlS;
    double waitS;
    Integer gpu;
    Integer vramMb;
    Priority priority;
    Long pid;
    String host;
    boolean yieldable;
    boolean preempt;

    Fields(LeaseRequest r) {
      owner = r.owner;
      purpose = r.purpose;
      ttlS = r.ttlS;
      waitS = r.waitS;
      gpu = r.gpu;
      vramMb = r.vramMb;
      priority = r.priority;
      pid = r.pid;
      host = r.host;
      yieldable = r.yieldable;
      preempt = r.preempt;
    }
  }
}
