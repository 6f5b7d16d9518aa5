package io.iqa.sidecar.service;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.iqa.holder.GpuMode;
import io.iqa.holder.OnLeaseLost;
import io.iqa.protocol.config.ConfigException;
import io.iqa.protocol.config.ConfigReader;
import io.iqa.protocol.config.Matches;
import io.iqa.protocol.config.Range;
import io.iqa.protocol.config.EnvOverrides;
import io.iqa.protocol.wire.LeaseRequest;
import io.iqa.server.Listening;
import io.iqa.server.RequestPolicy;
import io.iqa.server.ServerLimits;
import io.iqa.sidecar.image.ImageDecoder;
import io.iqa.sidecar.model.ModelEntry;
import io.iqa.sidecar.model.ModelRegistry;
import io.iqa.sidecar.service.LeaseOptions.BrokerAddress;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The sidecar's settings, one record read by {@link ConfigReader}: the config file, then
 * environment variables, then command-line flags. Every key of every block is checked, with its
 * type and range, when the options are read, so a typo or a wrong type is a {@link
 * ConfigException} naming the key before any lease or model work. (The entries of the {@code
 * models} list are checked by {@link ModelRegistry#check}.)
 *
 * @param device where a model runs unless its entry says: auto, cpu or cuda:N
 * @param maxInflightBytes the cap on bytes held for requests in flight (503 overloaded beyond it);
 *     a quarter of the JVM's heap unless told
 * @param broker where the broker is; its url is null when no broker is configured
 * @param idleReleaseS seconds without a cache miss after which the worker stops and the lease is released; 0: never
 */
public record SidecarOptions(List<ObjectNode> models,
    @Matches(value = ModelEntry.DEVICE, what = ModelEntry.DEVICE_RULE) String device,
    @Range(min = 1, max = 256) int maxBatch,
    // One body is held in one array while it is hashed and decoded: at most 1 GiB (2^31 wrapped).
    @Range(min = 1024, max = 1L << 30) long maxImageBytes, @Range(min = 1, max = 1L << 34) long maxImagePixels,
    @Matches(value = Matches.HOST, what = Matches.HOST_RULE) String host, @Range(min = 0, max = 65535) int port, @Range(min = 1024, max = 1L << 30) long maxBodyBytes,
    @Range(min = 1L << 20, max = 1L << 40) long maxInflightBytes, CacheOptions cache, BatchingOptions batching,
    List<Path> allowedRoots, BrokerAddress broker, OnLeaseLost onLeaseLost,
    @Range(min = 0, max = 3600) long drainTimeoutS, @Range(min = 0, max = 365L * 24 * 3600) long idleShutdownS,
    @Range(min = 0, max = 365L * 24 * 3600) long idleReleaseS, Auth auth, LeaseOptions lease, ServerLimits limits,
    WorkerOptions worker, List<String> allowedHosts, List<String> allowedOrigins) {

  public static final String DEFAULT_HOST = "127.0.0.1";
  public static final int DEFAULT_PORT = 8471;
  /** Environment variables that override the config: IQA_SIDECAR_KEY or IQA_SIDECAR_BLOCK_KEY. */
  public static final String ENV_PREFIX = "IQA_SIDECAR_";

  /** What a config that says nothing gets; docs/sidecar.md lists the same. */
  static final SidecarOptions DEFAULTS = new SidecarOptions(List.of(), "auto", ModelRegistry.DEFAULT_MAX_BATCH,
      ImageDecoder.DEFAULT_MAX_BYTES, ImageDecoder.DEFAULT_MAX_PIXELS, DEFAULT_HOST, DEFAULT_PORT,
      ImageDecoder.DEFAULT_MAX_BYTES, Math.max(64L << 20, Runtime.getRuntime().maxMemory() / 4), CacheOptions.DEFAULTS,
      BatchingOptions.DEFAULTS, List.of(), new BrokerAddress(null, null), OnLeaseLost.IDLE, 30, 0, 300,
      new Auth(null), LeaseOptions.DEFAULTS, ServerLimits.DEFAULTS, WorkerOptions.DEFAULTS, List.of(), List.of());

  /** The {@code auth} block: SHA-256 of the admin bearer token, or null when auth is off. */
  public record Auth(@Matches(value = Matches.SHA256, what = Matches.SHA256_RULE) String adminTokenSha256) {
  }

  public SidecarOptions {
    for (Path root : allowedRoots) {
      if (!root.isAbsolute()) {
        throw new ConfigException("allowed_roots entries must be absolute paths, not '" + root + "'");
      }
    }
    RequestPolicy.of(allowedHosts, allowedOrigins);
  }

  /** @throws ConfigException naming the key, for any unknown key, wrong type or out-of-range value */
  public static SidecarOptions read(JsonObject json) {
    if (json.getValue("broker") instanceof JsonObject b) {
      for (java.lang.reflect.RecordComponent c : LeaseOptions.class.getRecordComponents()) {
        String key = ConfigReader.key(c);
        if (b.containsKey(key)) {
          throw new ConfigException("broker." + key + " is now lease." + key + ": the broker block says where the "
              + "broker is (url, token), the lease block what to ask it for");
        }
      }
    }
    return ConfigReader.read(json.encode(), DEFAULTS);
  }

  /**
   * A copy of {@code json} with environment overrides applied: {@code IQA_SIDECAR_PORT=9000} sets
   * {@code port}, {@code IQA_SIDECAR_BATCHING_MAX_QUEUE_DELAY_MS=2} sets
   * {@code batching.max_queue_delay_ms}. Values are JSON when they parse, else text; a name that
   * matches no key is refused.
   */
  public static JsonObject applyEnv(JsonObject json, Map<String, String> env) {
    return new JsonObject(EnvOverrides.apply(json.encode(), ENV_PREFIX, env, SidecarOptions.class).toString());
  }

  /** The whole config, every default filled in (the model registry reads its {@code models}, {@code device}, {@code max_batch}). */
  public JsonObject json() {
    return new JsonObject(ConfigReader.toTree(this).toString());
  }

  /** @return how this sidecar guards the GPU, given its models */
  public GpuMode gpuMode(List<ModelEntry> entries) {
    return !hasBroker() ? GpuMode.UNGUARDED : wantsGpu(entries) || leaseRequired() ? GpuMode.LEASED : GpuMode.CPU_ONLY;
  }

  /** @return whether a broker is configured to lease GPUs from */
  public boolean hasBroker() {
    return broker.url() != null;
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

  /** @return lease.yield: give the GPU back when a request of equal or higher priority waits for it */
  public boolean leaseYield() {
    return lease.yieldable();
  }

  /** @return SHA-256 of the admin bearer token, or null when auth is off */
  public String adminTokenSha256() {
    return auth.adminTokenSha256();
  }

  /** @return where it listens, its HTTP limits (the {@code limits} block), which requests it takes at all */
  public Listening listening() {
    return new Listening(host, port, limits, RequestPolicy.of(allowedHosts, allowedOrigins));
  }
}
