package io.iqa.sidecar.service;

import io.iqa.sidecar.image.ImageDecoder;
import io.iqa.sidecar.model.ModelConfigException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The sidecar service's settings: the config file's service keys (the {@code models} list is the
 * registry's), then environment variables, then command-line flags. Unknown keys are refused.
 */
public final class SidecarOptions {

  public static final String DEFAULT_HOST = "127.0.0.1";
  public static final int DEFAULT_PORT = 8471;

  /** Environment variable -> top-level key. */
  public static final Map<String, String> ENV = Map.of(
      "IQA_SIDECAR_HOST", "host",
      "IQA_SIDECAR_PORT", "port",
      "IQA_SIDECAR_DEVICE", "device",
      "IQA_SIDECAR_MAX_BATCH", "max_batch",
      "IQA_SIDECAR_IDLE_SHUTDOWN_S", "idle_shutdown_s",
      "IQA_SIDECAR_DRAIN_TIMEOUT_S", "drain_timeout_s",
      "IQA_SIDECAR_ON_LEASE_LOST", "on_lease_lost");

  private static final Set<String> KEYS = Set.of("models", "device", "max_batch", "max_image_bytes",
      "max_image_pixels", "host", "port", "max_body_bytes", "cache", "batching", "allowed_roots", "broker",
      "on_lease_lost", "drain_timeout_s", "idle_shutdown_s", "auth", "lease");

  private final JsonObject json;
  private final List<Path> allowedRoots = new ArrayList<>();

  public SidecarOptions(JsonObject json) {
    this.json = json;
    for (String key : json.fieldNames()) {
      if (!KEYS.contains(key)) {
        throw new ModelConfigException("unknown config key '" + key + "' (known: " + KEYS.stream().sorted().toList() + ")");
      }
    }
    JsonArray roots = json.getJsonArray("allowed_roots", new JsonArray());
    for (Object r : roots) {
      allowedRoots.add(Path.of(String.valueOf(r)));
    }
    String onLost = onLeaseLost();
    if (!onLost.equals("exit") && !onLost.equals("cpu")) {
      throw new ModelConfigException("on_lease_lost must be 'exit' or 'cpu', not '" + onLost + "'");
    }
  }

  /** Returns a copy of {@code json} with every {@link #ENV} variable present in {@code env} applied. */
  public static JsonObject applyEnv(JsonObject json, Map<String, String> env) {
    JsonObject out = json.copy();
    ENV.forEach((var, key) -> {
      String v = env.get(var);
      if (v == null || v.isBlank()) {
        return;
      }
      if (key.equals("host") || key.equals("device") || key.equals("on_lease_lost")) {
        out.put(key, v.trim());
      } else {
        try {
          out.put(key, Long.parseLong(v.trim()));
        } catch (NumberFormatException e) {
          throw new ModelConfigException(var + " must be a whole number, not '" + v + "'");
        }
      }
    });
    String broker = env.get("IQA_BROKER_URL");
    if (broker != null && !broker.isBlank()) {
      out.put("broker", out.getJsonObject("broker", new JsonObject()).copy().put("url", broker.trim()));
    }
    return out;
  }

  public JsonObject json() {
    return json;
  }

  public String host() {
    return json.getString("host", DEFAULT_HOST);
  }

  public int port() {
    return json.getInteger("port", DEFAULT_PORT);
  }

  public long maxBodyBytes() {
    return json.getLong("max_body_bytes", ImageDecoder.DEFAULT_MAX_BYTES);
  }

  public long maxImageBytes() {
    return json.getLong("max_image_bytes", ImageDecoder.DEFAULT_MAX_BYTES);
  }

  public long maxImagePixels() {
    return json.getLong("max_image_pixels", ImageDecoder.DEFAULT_MAX_PIXELS);
  }

  public long cacheMaxEntries() {
    return json.getJsonObject("cache", new JsonObject()).getLong("max_entries", 100_000L);
  }

  public long maxQueueDelayMs() {
    return json.getJsonObject("batching", new JsonObject()).getLong("max_queue_delay_ms", 5L);
  }

  public int queueLimit() {
    return json.getJsonObject("batching", new JsonObject()).getInteger("queue_limit", 256);
  }

  public int workers() {
    return json.getJsonObject("batching", new JsonObject()).getInteger("workers", 2);
  }

  public List<Path> allowedRoots() {
    return allowedRoots;
  }

  public JsonObject broker() {
    return json.getJsonObject("broker");
  }

  /**
   * @return lease.required: whether a sidecar that gets no lease must fail to start; default true
   *     where an NVIDIA device is visible, false elsewhere (a CPU-only machine has nothing to guard)
   */
  public boolean leaseRequired() {
    JsonObject lease = json.getJsonObject("lease", new JsonObject());
    return lease.getBoolean("required", java.nio.file.Files.exists(Path.of("/dev/nvidiactl")));
  }

  public String onLeaseLost() {
    return json.getString("on_lease_lost", "exit");
  }

  public long drainTimeoutS() {
    return json.getLong("drain_timeout_s", 30L);
  }

  public long idleShutdownS() {
    return json.getLong("idle_shutdown_s", 0L);
  }

  /** @return SHA-256 of the admin bearer token, or null when auth is off */
  public String adminTokenSha256() {
    JsonObject auth = json.getJsonObject("auth");
    return auth == null ? null : auth.getString("admin_token_sha256");
  }
}
