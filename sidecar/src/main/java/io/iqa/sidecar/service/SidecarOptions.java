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

  /** Environment variables that override the config: IQA_SIDECAR_KEY or IQA_SIDECAR_BLOCK_KEY. */
  public static final String ENV_PREFIX = "IQA_SIDECAR_";
  private static final Set<String> BLOCKS = Set.of("cache", "batching", "broker", "lease", "auth");

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

  /**
   * Returns a copy of {@code json} with environment overrides applied: {@code IQA_SIDECAR_PORT=9000}
   * sets {@code port}, {@code IQA_SIDECAR_BATCHING_MAX_QUEUE_DELAY_MS=2} sets
   * {@code batching.max_queue_delay_ms}, {@code IQA_SIDECAR_BROKER_URL=http://...} sets
   * {@code broker.url}. Values are read as JSON when they parse (numbers, booleans, lists), else as
   * text. A variable that names no key is refused, so a typo does not go unnoticed.
   */
  public static JsonObject applyEnv(JsonObject json, Map<String, String> env) {
    JsonObject out = json.copy();
    for (Map.Entry<String, String> e : new java.util.TreeMap<>(env).entrySet()) {
      if (!e.getKey().startsWith(ENV_PREFIX) || e.getValue() == null || e.getValue().isBlank()) {
        continue;
      }
      String name = e.getKey().substring(ENV_PREFIX.length()).toLowerCase(java.util.Locale.ROOT);
      Object value = parse(e.getValue().trim());
      if (KEYS.contains(name) && !BLOCKS.contains(name)) {
        out.put(name, value);
        continue;
      }
      int cut = name.indexOf('_');
      String block = cut < 0 ? name : name.substring(0, cut);
      if (cut < 0 || !BLOCKS.contains(block)) {
        throw new ModelConfigException(e.getKey() + " names no config key (top-level keys: "
            + KEYS.stream().filter(k -> !BLOCKS.contains(k)).sorted().toList() + "; blocks: " + BLOCKS.stream().sorted()
                .toList() + ")");
      }
      JsonObject nested = out.getJsonObject(block, new JsonObject()).copy();
      out.put(block, nested.put(name.substring(cut + 1), value));
    }
    return out;
  }

  private static Object parse(String v) {
    try {
      return io.vertx.core.json.Json.decodeValue(v);
    } catch (io.vertx.core.json.DecodeException e) {
      return v;
    }
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

  /** @return cache.redis_url, the optional shared cache, or null */
  public String sharedCacheUrl() {
    return json.getJsonObject("cache", new JsonObject()).getString("redis_url");
  }

  public long sharedCacheTtlS() {
    return json.getJsonObject("cache", new JsonObject()).getLong("redis_ttl_s", 30L * 24 * 3600);
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

  /** @return whether a broker is configured to lease GPUs from */
  public boolean hasBroker() {
    return broker() != null && broker().getString("url") != null;
  }

  /** The lease request the {@code broker} block describes, for this process. */
  public io.iqa.client.LeaseRequest leaseRequest() {
    JsonObject conf = broker();
    return io.iqa.client.LeaseRequest.of(conf.getString("owner", "iqa-sidecar"))
        .withPurpose(conf.getString("purpose", "image scoring"))
        .withTtl(conf.getDouble("ttl_s", 60.0))
        .withWait(conf.getDouble("wait_s", 0.0))
        .withPriority(conf.getString("priority", "normal"))
        .withGpu(conf.getInteger("gpu"))
        .withVramMb(conf.getInteger("vram_mb"));
  }

  /**
   * @return whether the models would use a GPU: {@code device} is {@code cuda:N}, or {@code auto}
   *     where an NVIDIA device is visible
   */
  public boolean wantsGpu() {
    String device = json.getString("device", "auto");
    return device.startsWith("cuda:") || device.equals("auto") && nvidiaVisible();
  }

  private static boolean nvidiaVisible() {
    return java.nio.file.Files.exists(Path.of("/dev/nvidiactl"));
  }

  /**
   * @return lease.required: whether a sidecar that gets no lease must fail to start; default true
   *     where an NVIDIA device is visible, false elsewhere (a CPU-only machine has nothing to guard)
   */
  public boolean leaseRequired() {
    JsonObject lease = json.getJsonObject("lease", new JsonObject());
    return lease.getBoolean("required", nvidiaVisible());
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
