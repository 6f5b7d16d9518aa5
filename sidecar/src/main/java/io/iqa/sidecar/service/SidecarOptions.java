package io.iqa.sidecar.service;

import io.iqa.holder.GpuMode;
import io.iqa.holder.OnLeaseLost;

import io.iqa.protocol.config.ConfigException;
import io.iqa.protocol.config.ConfigNode;
import io.iqa.protocol.config.EnvOverrides;
import io.iqa.protocol.wire.LeaseRequest;
import io.iqa.server.ConfigJson;
import io.iqa.server.Listening;
import io.iqa.server.RequestPolicy;
import io.iqa.server.ServerLimits;
import io.iqa.sidecar.image.ImageDecoder;
import io.iqa.sidecar.model.ModelEntry;
import io.iqa.sidecar.model.ModelRegistry;
import io.vertx.core.json.Json;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The sidecar's settings: the config file, then environment variables, then command-line flags.
 * Every key of every block is checked, with its type and range, when the options are built, so a
 * typo or a wrong type is a {@link ConfigException} naming the key before any lease or model work.
 * (The {@code models} list is checked by {@link ModelRegistry#check}, the {@code broker} and {@code
 * lease} blocks by {@code LeaseOptions}.)
 */
public final class SidecarOptions {

  public static final String DEFAULT_HOST = "127.0.0.1";
  public static final int DEFAULT_PORT = 8471;
  /** Environment variables that override the config: IQA_SIDECAR_KEY or IQA_SIDECAR_BLOCK_KEY. */
  public static final String ENV_PREFIX = "IQA_SIDECAR_";

  private static final Set<String> BLOCKS = Set.of("cache", "batching", "broker", "lease", "auth", "limits", "worker");
  private static final Set<String> KEYS = Set.of("models", "device", "max_batch", "max_image_bytes",
      "max_image_pixels", "host", "port", "max_body_bytes", "max_inflight_bytes", "cache", "batching", "allowed_roots",
      "broker", "on_lease_lost", "drain_timeout_s", "idle_shutdown_s", "idle_release_s", "auth", "lease", "limits",
      "worker", "allowed_hosts", "allowed_origins");

  private final JsonObject json;
  private final String host;
  private final int port;
  private final long maxBodyBytes;
  private final long maxImageBytes;
  private final long maxImagePixels;
  private final long maxInflightBytes;
  private final CacheOptions cache;
  private final BatchingOptions batching;
  private final List<Path> allowedRoots = new ArrayList<>();
  private final LeaseOptions lease;
  private final OnLeaseLost onLeaseLost;
  private final long idleReleaseS;
  private final WorkerOptions worker;
  private final long drainTimeoutS;
  private final long idleShutdownS;
  private final String adminTokenSha256;
  private final ServerLimits limits;
  private final RequestPolicy requestPolicy;

  /** @throws ConfigException naming the key, for any unknown key, wrong type or out-of-range value */
  public SidecarOptions(JsonObject json) {
    this.json = json;
    ConfigNode c = ConfigJson.root(json).known(KEYS);
    host = c.string("host", DEFAULT_HOST);
    port = (int) c.integer("port", DEFAULT_PORT, 0, 65535);
    c.string("device", "auto", Pattern.compile("auto|cpu|cuda:\\d{1,2}"), "auto, cpu or cuda:N");
    c.integer("max_batch", ModelRegistry.DEFAULT_MAX_BATCH, 1, 256);
    // One body is held in one array while it is hashed and decoded: at most 1 GiB (2^31 wrapped).
    maxBodyBytes = c.integer("max_body_bytes", ImageDecoder.DEFAULT_MAX_BYTES, 1024, 1L << 30);
    maxImageBytes = c.integer("max_image_bytes", ImageDecoder.DEFAULT_MAX_BYTES, 1024, 1L << 30);
    maxImagePixels = c.integer("max_image_pixels", ImageDecoder.DEFAULT_MAX_PIXELS, 1, 1L << 34);
    maxInflightBytes = c.integer("max_inflight_bytes", defaultInflightBytes(), 1L << 20, 1L << 40);
    cache = CacheOptions.parse(c.block("cache"));
    batching = BatchingOptions.parse(c.block("batching"));
    for (String r : c.strings("allowed_roots", List.of())) {
      Path root = Path.of(r);
      if (!root.isAbsolute()) {
        throw new ConfigException("allowed_roots entries must be absolute paths, not '" + r + "'");
      }
      allowedRoots.add(root);
    }
    lease = LeaseOptions.parse(c);
    onLeaseLost = OnLeaseLost.valueOf(c.choice("on_lease_lost", "idle", Set.of("idle", "cpu", "exit"))
        .toUpperCase(Locale.ROOT));
    idleReleaseS = c.integer("idle_release_s", 300, 0, 365L * 24 * 3600);
    worker = WorkerOptions.parse(c.block("worker"));
    drainTimeoutS = c.integer("drain_timeout_s", 30, 0, 3600);
    idleShutdownS = c.integer("idle_shutdown_s", 0, 0, 365L * 24 * 3600);
    adminTokenSha256 = c.block("auth").known(Set.of("admin_token_sha256"))
        .string("admin_token_sha256", null, Pattern.compile("[0-9a-fA-F]{64}"), "64 hex digits (sha256sum of the token)");
    limits = ServerLimits.from(c.block("limits").known(ServerLimits.KEYS));
    requestPolicy = RequestPolicy.from(c);
  }

  /** A quarter of the JVM's heap: what a burst of large uploads may hold before 503 {@code overloaded}. */
  private static long defaultInflightBytes() {
    return Math.max(64L << 20, Runtime.getRuntime().maxMemory() / 4);
  }

  /**
   * A copy of {@code json} with environment overrides applied: {@code IQA_SIDECAR_PORT=9000} sets
   * {@code port}, {@code IQA_SIDECAR_BATCHING_MAX_QUEUE_DELAY_MS=2} sets
   * {@code batching.max_queue_delay_ms}. Values are JSON when they parse, else text; a name that
   * matches no key is refused.
   */
  public static JsonObject applyEnv(JsonObject json, Map<String, String> env) {
    Set<String> plain = new HashSet<>(KEYS);
    plain.removeAll(BLOCKS);
    return new JsonObject(EnvOverrides.apply(ConfigJson.plain(json), ENV_PREFIX, env, plain, BLOCKS, Json::decodeValue));
  }

  /** The whole config (the model registry reads its {@code models}, {@code device}, {@code max_batch}). */
  public JsonObject json() {
    return json;
  }

  public String host() {
    return host;
  }

  public int port() {
    return port;
  }

  public long maxBodyBytes() {
    return maxBodyBytes;
  }

  public long maxImageBytes() {
    return maxImageBytes;
  }

  public long maxImagePixels() {
    return maxImagePixels;
  }

  /** @return the cap on bytes held for requests in flight (503 overloaded beyond it) */
  public long maxInflightBytes() {
    return maxInflightBytes;
  }

  /** @return the {@code cache} block */
  public CacheOptions cache() {
    return cache;
  }

  /** @return the {@code batching} block */
  public BatchingOptions batching() {
    return batching;
  }

  public List<Path> allowedRoots() {
    return allowedRoots;
  }

  /** @return {@code url} and {@code token} of the broker block, or null when no broker is configured */
  public JsonObject broker() {
    return lease.broker();
  }

  /** @return whether a broker is configured to lease GPUs from */
  /** @return how this sidecar guards the GPU, given its models */
  public GpuMode gpuMode(List<ModelEntry> entries) {
    return !hasBroker() ? GpuMode.UNGUARDED : wantsGpu(entries) || leaseRequired() ? GpuMode.LEASED : GpuMode.CPU_ONLY;
  }

  public boolean hasBroker() {
    return lease.broker() != null;
  }

  /** The lease request the {@code lease} block describes, for this process ({@code yield} included). */
  public LeaseRequest leaseRequest() {
    return lease.request();
  }

  /**
   * @return whether a model would use a GPU: its device (or the config's {@code device}) is
   *     {@code cuda:N}, or {@code auto} where an NVIDIA device is visible
   */
  public boolean wantsGpu(List<ModelEntry> models) {
    return models.stream().map(ModelEntry::device)
        .anyMatch(d -> d.startsWith("cuda:") || d.equals("auto") && nvidiaVisible());
  }

  private static boolean nvidiaVisible() {
    return Files.exists(Path.of("/dev/nvidiactl"));
  }

  /**
   * @return lease.required: whether a sidecar that gets no lease must fail to start; default true
   *     where an NVIDIA device is visible, false elsewhere (a CPU-only machine has nothing to guard)
   */
  public boolean leaseRequired() {
    return lease.required() != null ? lease.required() : nvidiaVisible();
  }

  public OnLeaseLost onLeaseLost() {
    return onLeaseLost;
  }

  /** @return lease.yield: give the GPU back when a request of equal or higher priority waits for it */
  public boolean leaseYield() {
    return lease.yieldable();
  }

  /** @return seconds without a cache miss after which the worker stops and the lease is released; 0: never */
  public long idleReleaseS() {
    return idleReleaseS;
  }

  /** @return the {@code worker} block */
  public WorkerOptions worker() {
    return worker;
  }

  public long drainTimeoutS() {
    return drainTimeoutS;
  }

  public long idleShutdownS() {
    return idleShutdownS;
  }

  /** @return SHA-256 of the admin bearer token, or null when auth is off */
  public String adminTokenSha256() {
    return adminTokenSha256;
  }

  /** @return where it listens, its HTTP limits (the {@code limits} block), which requests it takes at all */
  public Listening listening() {
    return new Listening(host, port, limits, requestPolicy);
  }
}
