package io.iqa.broker;

import io.iqa.broker.gpu.GpuDevice;
import io.iqa.protocol.config.ConfigException;
import io.iqa.protocol.config.ConfigNode;
import io.iqa.server.ConfigJson;
import io.iqa.broker.http.StreamLimits;
import io.iqa.broker.store.redis.RedisStoreConfig;
import io.iqa.server.Listening;
import io.iqa.server.RequestPolicy;
import io.iqa.server.ServerLimits;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Broker configuration. Built from JSON ({@code conf/broker.json}), then environment variables,
 * then command-line flags, each overriding the one before. Unknown keys are refused so that a typo
 * does not silently fall back to a default.
 */
public final class BrokerOptions {

  public static final String DEFAULT_HOST = "127.0.0.1";
  public static final int DEFAULT_PORT = 8470;

  /** Environment variable for each key; values of JSON-typed keys are JSON text. */
  public static final Map<String, String> ENV = Map.ofEntries(
      Map.entry("GPU_LEASE_HOST", "host"),
      Map.entry("GPU_LEASE_PORT", "port"),
      Map.entry("GPU_LEASE_GPUS", "gpus"),
      Map.entry("GPU_LEASE_DEFAULT_TTL", "default_ttl_s"),
      Map.entry("GPU_LEASE_MAX_TTL", "max_ttl_s"),
      Map.entry("GPU_LEASE_MAX_WAIT", "max_wait_s"),
      Map.entry("GPU_LEASE_STALE_MAX_AGE", "stale_max_age_s"),
      Map.entry("GPU_LEASE_REAPER_INTERVAL_MS", "reaper_interval_ms"),
      Map.entry("GPU_LEASE_PRIORITY_AGING", "priority_aging_s"),
      Map.entry("GPU_LEASE_EVENTS_MAX", "events_max"),
      Map.entry("GPU_LEASE_STORE", "store"),
      Map.entry("GPU_LEASE_REDIS_URL", "store.url"),
      Map.entry("GPU_LEASE_AUTH", "auth"),
      Map.entry("GPU_LEASE_STATE_FILE", "state_file"),
      Map.entry("GPU_LEASE_STATE_FSYNC", "state_fsync"),
      Map.entry("GPU_LEASE_RECOVERY_GRACE", "recovery_grace_s"),
      Map.entry("GPU_LEASE_OBSERVE_INTERVAL_MS", "observe_interval_ms"),
      Map.entry("GPU_LEASE_NVIDIA_SMI", "nvidia_smi"),
      Map.entry("GPU_LEASE_ALLOWED_HOSTS", "allowed_hosts"),
      Map.entry("GPU_LEASE_ALLOWED_ORIGINS", "allowed_origins"));

  private static final Set<String> KEYS = Set.of("host", "port", "gpus", "default_ttl_s", "max_ttl_s",
      "max_wait_s", "stale_max_age_s", "reaper_interval_ms", "priority_aging_s", "events_max", "store", "auth",
      "state_file", "state_fsync", "recovery_grace_s", "limits", "observe_interval_ms", "nvidia_smi", "allowed_hosts",
      "allowed_origins");

  private String host = DEFAULT_HOST;
  private int port = DEFAULT_PORT;
  private List<GpuDevice> gpus;
  private double defaultTtlS = 300;
  private double maxTtlS = 3600;
  private double maxWaitS = 3600;
  private double staleMaxAgeS = 900;
  private long reaperIntervalMs = 1000;
  private double priorityAgingS = 30;
  private int eventsMax = 1000;
  /** The Redis store's block; null: the memory store. */
  private RedisStoreConfig redis;
  private List<AuthToken> authTokens = List.of();
  private Path stateFile;
  /** {@code "state_file": null} was written on purpose: keep no state (every start is then a lost-state start). */
  private boolean noStateFile;
  private boolean stateFsync = false;
  private Double recoveryGraceS;
  private boolean fresh;
  private ServerLimits limits = ServerLimits.defaults();
  private RequestPolicy requestPolicy = RequestPolicy.defaults();
  private StreamLimits streamLimits = StreamLimits.defaults();
  private long observeIntervalMs = 2000;
  private String nvidiaSmi = "nvidia-smi";

  public BrokerOptions() {
  }

  /** @throws ConfigException naming the offending key */
  public BrokerOptions(JsonObject json) {
    ConfigNode c = ConfigJson.root(json).known(KEYS);
    host = c.string("host", host);
    port = (int) c.integer("port", port, 0, 65535);
    if (c.has("gpus")) {
      gpus = parseGpus(c);
    }
    defaultTtlS = c.number("default_ttl_s", defaultTtlS, 1, 86_400 * 7);
    maxTtlS = c.number("max_ttl_s", maxTtlS, 1, 86_400 * 7);
    maxWaitS = c.number("max_wait_s", maxWaitS, 0, 86_400);
    staleMaxAgeS = c.number("stale_max_age_s", staleMaxAgeS, 0.001, 86_400 * 365);
    reaperIntervalMs = c.integer("reaper_interval_ms", reaperIntervalMs, 10, 3_600_000);
    priorityAgingS = c.number("priority_aging_s", priorityAgingS, 0, 86_400);
    eventsMax = (int) c.integer("events_max", eventsMax, 1, 1_000_000);
    if (defaultTtlS > maxTtlS) {
      throw new ConfigException("default_ttl_s (" + defaultTtlS + ") must not exceed max_ttl_s (" + maxTtlS + ")");
    }
    if (c.has("store")) {
      redis = redisStore(c.block("store"));
    }
    List<AuthToken> parsed = new ArrayList<>();
    for (ConfigNode t : c.block("auth").known(Set.of("tokens")).blocks("tokens")) {
      parsed.add(AuthToken.from(t));
    }
    authTokens = List.copyOf(parsed);
    String file = c.string("state_file", null);
    stateFile = file == null ? null : Path.of(file);
    noStateFile = json.containsKey("state_file") && json.getValue("state_file") == null;
    if (stateFile != null && redis != null) {
      throw new ConfigException("state_file is for the memory store; the redis store keeps its state in Redis");
    }
    stateFsync = c.bool("state_fsync", false);
    recoveryGraceS = c.optionalNumber("recovery_grace_s", 0, 86_400 * 7);
    ConfigNode limitsBlock = c.block("limits").known(union(ServerLimits.KEYS, StreamLimits.KEYS));
    limits = ServerLimits.from(limitsBlock);
    streamLimits = StreamLimits.from(limitsBlock, limits.maxConnections());
    requestPolicy = RequestPolicy.from(c);
    observeIntervalMs = c.integer("observe_interval_ms", observeIntervalMs, 0, 3_600_000);
    if (observeIntervalMs > 0 && observeIntervalMs < 100) {
      throw new ConfigException("observe_interval_ms must be 0 (off) or at least 100, not " + observeIntervalMs);
    }
    nvidiaSmi = c.string("nvidia_smi", nvidiaSmi);
  }

  /** Returns a copy of {@code json} with every {@link #ENV} variable present in {@code env} applied. */
  public static JsonObject applyEnv(JsonObject json, Map<String, String> env) {
    JsonObject out = json.copy();
    ENV.forEach((var, key) -> {
      String value = env.get(var);
      if (value == null || value.isBlank()) {
        return;
      }
      if (key.equals("store.url")) {
        return; // applied below, after GPU_LEASE_STORE
      }
      Object parsed = switch (key) {
        case "host", "state_file", "nvidia_smi" -> value;
        case "state_fsync" -> Boolean.parseBoolean(value.trim());
        case "gpus", "store", "auth" -> parseJsonEnv(var, value);
        default -> parseNumberEnv(var, value);
      };
      out.put(key, parsed);
    });
    String redisUrl = env.get("GPU_LEASE_REDIS_URL");
    if (redisUrl != null && !redisUrl.isBlank()) {
      JsonObject store = out.getValue("store") instanceof JsonObject s ? s.copy() : new JsonObject();
      out.put("store", store.put("type", "redis").put("url", redisUrl.trim()));
      // The variable moves the state to Redis: a state file the config names (the image's own config,
      // for a broker on its own) no longer applies, unless GPU_LEASE_STATE_FILE asks for both.
      if (env.get("GPU_LEASE_STATE_FILE") == null) {
        out.remove("state_file");
      }
    }
    return out;
  }

  private static Object parseJsonEnv(String var, String value) {
    try {
      return io.vertx.core.json.Json.decodeValue(value);
    } catch (DecodeException e) {
      throw new ConfigException(var + " must be JSON: " + e.getMessage(), e);
    }
  }

  private static Number parseNumberEnv(String var, String value) {
    try {
      return Double.parseDouble(value.trim());
    } catch (NumberFormatException e) {
      throw new ConfigException(var + " must be a number, not '" + value + "'", e);
    }
  }

  /** @return the Redis store's block, or null for the memory store (which takes no other key) */
  private static RedisStoreConfig redisStore(ConfigNode store) {
    if (store.choice("type", "memory", Set.of("memory", "redis")).equals("memory")) {
      store.known(Set.of("type"));
      return null;
    }
    return RedisStoreConfig.parse(store);
  }

  private static List<GpuDevice> parseGpus(ConfigNode c) {
    List<GpuDevice> list = new ArrayList<>();
    for (ConfigNode g : c.blocks("gpus")) {
      g.known(Set.of("index", "vram_mb"));
      Long index = g.optionalInteger("index", 0, 1024);
      if (index == null) {
        throw new ConfigException(g.name("index") + " is required");
      }
      int vram = (int) g.integer("vram_mb", 0, 0, 16 * 1024 * 1024);
      if (list.stream().anyMatch(d -> d.index() == index)) {
        throw new ConfigException("gpus lists index " + index + " twice");
      }
      list.add(new GpuDevice(index.intValue(), vram));
    }
    if (list.isEmpty()) {
      throw new ConfigException("gpus must name at least one device");
    }
    return List.copyOf(list);
  }

  public String host() { return host; }
  public BrokerOptions host(String host) { this.host = host; return this; }
  public int port() { return port; }
  public BrokerOptions port(int port) { this.port = port; return this; }
  /** @return the configured devices, or null to detect them with nvidia-smi */
  public List<GpuDevice> gpus() { return gpus; }
  public BrokerOptions gpus(List<GpuDevice> gpus) { this.gpus = gpus; return this; }
  public double defaultTtlS() { return defaultTtlS; }
  public double maxTtlS() { return maxTtlS; }
  public double maxWaitS() { return maxWaitS; }
  public double staleMaxAgeS() { return staleMaxAgeS; }
  public long reaperIntervalMs() { return reaperIntervalMs; }
  public double priorityAgingS() { return priorityAgingS; }
  public int eventsMax() { return eventsMax; }
  /** @return the Redis store's {@code store} block, or null for the memory store */
  public RedisStoreConfig redisStore() { return redis; }
  public List<AuthToken> authTokens() { return authTokens; }
  /** @return the memory store's state file, or null (state kept in this process only) */
  public Path stateFile() { return stateFile; }
  public boolean stateFsync() { return stateFsync; }
  /** @return how long a broker that starts without its lease state grants nothing: max_ttl_s unless configured */
  public double recoveryGraceS() { return recoveryGraceS != null ? recoveryGraceS : maxTtlS; }
  /** @return whether the operator said no lease from an earlier run can be alive (--fresh): no recovery period */
  public boolean fresh() { return fresh; }
  /** @return the budget of event streams and lease watches: the stream keys of the {@code limits} block */
  public StreamLimits streamLimits() { return streamLimits; }
  /** @return where it listens, its HTTP limits (the {@code limits} block), which requests it takes at all */
  public Listening listening() { return new Listening(host, port, limits, requestPolicy); }
  public BrokerOptions fresh(boolean f) { this.fresh = f; return this; }
  /** @return how often the observer samples nvidia-smi; 0: never */
  public long observeIntervalMs() { return observeIntervalMs; }
  /** @return the nvidia-smi to run: a name looked up on the PATH, or a path */
  public String nvidiaSmi() { return nvidiaSmi; }

  /**
   * Where a broker keeps its lease state when its config does not say: {@code
   * $XDG_STATE_HOME/iqa/broker-state.jsonl}, else {@code ~/.local/state/iqa/broker-state.jsonl} (the
   * XDG base directory rule); null when neither variable is set.
   */
  public static Path defaultStateFile(Map<String, String> env) {
    String xdg = env.get("XDG_STATE_HOME");
    if (xdg != null && !xdg.isBlank() && Path.of(xdg).isAbsolute()) {
      return Path.of(xdg, "iqa", "broker-state.jsonl");
    }
    String home = env.get("HOME");
    return home == null || home.isBlank() ? null : Path.of(home, ".local", "state", "iqa", "broker-state.jsonl");
  }

  /**
   * The memory store keeps its state in {@code file} unless the config names a state file or says
   * {@code "state_file": null}: the built-in default of the broker program, so a plain start both
   * grants at once (the file does not exist yet: a first start) and survives a restart.
   */
  public BrokerOptions defaultStateFile(Path file) {
    if (stateFile == null && !noStateFile && redis == null) {
      stateFile = file;
    }
    return this;
  }

  /** Resolves a relative state_file against {@code dir} (the config file's folder). */
  public BrokerOptions resolveAgainst(Path dir) {
    if (stateFile != null && !stateFile.isAbsolute() && dir != null) {
      stateFile = dir.resolve(stateFile).normalize();
    }
    return this;
  }

  private static Set<String> union(Set<String> a, Set<String> b) {
    Set<String> all = new java.util.HashSet<>(a);
    all.addAll(b);
    return all;
  }
}
