package io.iqa.sidecar.service;

import io.iqa.protocol.config.ConfigException;
import io.iqa.protocol.config.ConfigNode;
import io.iqa.protocol.wire.LeaseRequest;
import io.iqa.protocol.wire.Priority;
import io.vertx.core.json.JsonObject;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The {@code broker} block (where the broker is: url, token) and the {@code lease} block (what to
 * ask it for) of the sidecar's config, each key checked; a lease key left in the broker block is
 * refused with where it moved.
 *
 * @param broker {@code url} and {@code token}, or null when no broker is configured
 * @param required lease.required, or null when not set
 */
record LeaseOptions(JsonObject broker, LeaseRequest request, Boolean required, boolean yieldable) {

  /** What to ask the broker for: the {@code lease} block (the {@code broker} block says where it is). */
  private static final Set<String> LEASE_KEYS = Set.of("owner", "purpose", "ttl_s", "wait_s", "vram_mb", "gpu",
      "priority", "required", "yield");

  /** @throws ConfigException naming the key, for any unknown key, wrong type or out-of-range value */
  static LeaseOptions parse(ConfigNode c) {
    ConfigNode b = c.block("broker");
    for (String key : LEASE_KEYS) {
      if (b.has(key)) {
        throw new ConfigException(b.name(key) + " is now lease." + key + ": the broker block says where the broker "
            + "is (url, token), the lease block what to ask it for");
      }
    }
    b.known(Set.of("url", "token"));
    ConfigNode lease = c.block("lease").known(LEASE_KEYS);
    JsonObject broker = null;
    if (b.has("url")) {
      String url = b.string("url", null, Pattern.compile("https?://.+"), "an http:// URL");
      broker = new JsonObject().put("url", url).put("token", b.string("token", null));
    }
    Long gpu = lease.optionalInteger("gpu", 0, 1024);
    Long vram = lease.optionalInteger("vram_mb", 1, Integer.MAX_VALUE);
    boolean yieldable = lease.bool("yield", true);
    LeaseRequest request = LeaseRequest.of(lease.string("owner", "iqa-sidecar", LeaseRequest.OWNER, LeaseRequest.OWNER_RULE))
        .withPurpose(lease.string("purpose", "image scoring"))
        .withTtl(lease.number("ttl_s", 60, 1, 86_400))
        .withWait(lease.number("wait_s", 60, 0, 86_400))
        .withPriority(lease.choice("priority", Priority.NORMAL, Priority.class))
        .withGpu(gpu == null ? null : gpu.intValue())
        .withVramMb(vram == null ? null : vram.intValue())
        .withYield(yieldable);
    Boolean required = lease.has("required") ? lease.bool("required", false) : null;
    return new LeaseOptions(broker, request, required, yieldable);
  }
}
