package io.iqa.broker;

import io.iqa.broker.gpu.GpuDevice;
import io.iqa.protocol.config.ConfigException;
import io.iqa.protocol.Text;
import io.iqa.protocol.config.ConfigReader;
import io.iqa.protocol.config.Matches;
import io.iqa.protocol.config.Range;
import io.iqa.broker.http.StreamLimits;
import io.iqa.broker.store.redis.RedisStoreConfig;
import io.iqa.server.Listening;
import io.iqa.server.RequestPolicy;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Broker configuration, one record read by {@link ConfigReader}. Built from JSON ({@code
 * conf/broker.json}), then environment variables, then command-line flags, each overriding the one
 * before. Unknown keys are refused so that a typo does not silently fall back to a default.
 *
 * @param gpus the devices to arbitrate, or null to detect them with nvidia-smi
 * @param store the {@code store} block: memory (the default) or Redis
 * @param stateFile the memory store's state file, or null (state kept in this process only)
 * @param recoveryGraceS how long a broker that starts without its lease state grants nothing;
 *     null: max_ttl_s ({@link #recoveryGraceMs})
 * @param observeIntervalMs how often the observer samples nvidia-smi; 0: never
 * @param nvidiaSmi the nvidia-smi to run: a name looked up on the PATH, or a path
 */
public record BrokerOptions(@Matches(value = Matches.HOST, what = Matches.HOST_RULE) String host,
    @Range(min = 0, max = 65535) int port, List<GpuDevice> gpus,
    @Range(min = 1, max = 86_400 * 7) double defaultTtlS, @Range(min = 1, max = 86_400 * 7) double maxTtlS,
    @Range(min = 0, max = 86_400) double maxWaitS, @Range(min = 0.001, max = 86_400 * 365) double staleMaxAgeS,
    @Range(min = 10, max = 3_600_000) long reaperIntervalMs, @Range(min = 0, max = 86_400) double priorityAgingS,
    @Range(min = 1, max = 1_000_000) int eventsMax, RedisStoreConfig store, Auth auth, Path stateFile,
    boolean stateFsync, @Range(min = 0, max = 86_400 * 7) Double recoveryGraceS, BrokerLimits limits,
    @Range(min = 0, max = 3_600_000) long observeIntervalMs,
    @Matches(value = "[^\\p{Cntrl}]+", what = "a command name or path") String nvidiaSmi, List<String> allowedHosts,
    List<String> allowedOrigins) {

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

  /** The variables of the broker's clients (scripts, iqa, the sidecar's children): not a setting, and no typo. */
  private static final Set<String> CLIENT_ENV = Set.of("GPU_LEASE_URL", "GPU_LEASE_TOKEN", "GPU_LEASE_ID");

  /** The rules between keys. */
  public BrokerOptions {
    if (defaultTtlS > maxTtlS) {
      throw new ConfigException("default_ttl_s (" + defaultTtlS + ") must not exceed max_ttl_s (" + maxTtlS + ")");
    }
    if (gpus != null) {
      Set<Integer> seen = new HashSet<>();
      for (GpuDevice d : gpus) {
        if (d != null && !seen.add(d.index())) {
          throw new ConfigException("gpus lists index " + d.index() + " twice");
        }
      }
      if (gpus.isEmpty()) {
        throw new ConfigException("gpus must name at least one device");
      }
    }
    if (stateFile != null && store.type() == RedisStoreConfig.Type.REDIS) {
      throw new ConfigException("state_file is for the memory store; the redis store keeps its state in Redis");
    }
    if (observeIntervalMs > 0 && observeIntervalMs < 100) {
      throw new ConfigException("observe_interval_ms must be 0 (off) or at least 100, not " + observeIntervalMs);
    }
    RequestPolicy.of(allowedHosts, allowedOrigins);
  }

  /** The {@code auth} block: with no token, auth is off. */
  public record Auth(List<AuthToken> tokens) {
    public Auth {
      tokens = tokens == null ? List.of() : tokens;
    }
  }

  /** What a config that says nothing gets; docs/broker.md lists the same. */
  public static final BrokerOptions DEFAULTS = new BrokerOptions(DEFAULT_HOST, DEFAULT_PORT, null, 300, 3600, 3600, 900,
      1000, 30, 1000, RedisStoreConfig.DEFAULTS, new Auth(List.of()), null, false, null, BrokerLimits.DEFAULTS, 2000,
      "nvidia-smi", List.of(), List.of());

  /** @throws ConfigException naming the offending key */
  public static BrokerOptions read(JsonObject json) {
    BrokerOptions o = ConfigReader.read(json.encode(), DEFAULTS);
    if (o.store.type() == RedisStoreConfig.Type.MEMORY && json.getValue("store") instanceof JsonObject store) {
      store.fieldNames().stream().filter(k -> !k.equals("type") && store.getValue(k) != null).findFirst()
          .ifPresent(k -> {
            throw new ConfigException("unknown config key 'store." + Text.printable(k, 80) + "' (the memory store "
                + "takes none but type)");
          });
    }
    return o;
  }

  /**
   * The broker program's reading of its config: a relative state_file is resolved against {@code
   * configDir} (the config file's folder); the memory store keeps its state in {@code
   * defaultStateFile} unless the config names a state file or says {@code "state_file": null}, so a
   * plain start both grants at once (the file does not exist yet: a first start) and survives a
   * restart.
   */
  public static BrokerOptions read(JsonObject json, Path configDir, Path defaultStateFile) {
    BrokerOptions o = read(json);
    JsonObject resolved = json.copy();
    if (o.stateFile != null && !o.stateFile.isAbsolute() && configDir != null) {
      resolved.put("state_file", configDir.resolve(o.stateFile).normalize().toString());
    } else if (o.stateFile == null && !json.containsKey("state_file") && o.redisStore() == null
        && defaultStateFile != null) {
      resolved.put("state_file", defaultStateFile.toString());
    }
    return resolved.equals(json) ? o : read(resolved);
  }

  /** Returns a copy of {@code json} with every {@link #ENV} variable present in {@code env} applied. */
  public static JsonObject applyEnv(JsonObject json, Map<String, String> env) {
    for (String var : new java.util.TreeSet<>(env.keySet())) {
      if (var.startsWith("GPU_LEASE_") && !ENV.containsKey(var) && !CLIENT_ENV.contains(var)) {
        throw new ConfigException(var + " names no broker setting (the broker reads "
            + String.join(", ", new java.util.TreeSet<>(ENV.keySet())) + ")");
      }
    }
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
        default -> parseJsonEnv(var, value);
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
      return io.vertx.core.json.Json.decodeValue(value.trim());
    } catch (DecodeException e) {
      throw new ConfigException(var + " must be JSON (a number, true or false, a list or an object), not '"
          + Text.printable(value, 80) + "'", e);
    }
  }

  /** @return the Redis store's {@code store} block, or null for the memory store */
  public RedisStoreConfig redisStore() {
    return store.type() == RedisStoreConfig.Type.REDIS ? store : null;
  }

  public List<AuthToken> authTokens() {
    return auth.tokens();
  }

  /** @return how long a broker that starts without its lease state grants nothing: max_ttl_s unless configured */
  public long recoveryGraceMs() {
    return Math.round((recoveryGraceS != null ? recoveryGraceS : maxTtlS) * 1000);
  }

  /** @return the budget of event streams and lease watches: the stream keys of the {@code limits} block */
  public StreamLimits streamLimits() {
    return limits.streams();
  }

  /** @return where it listens, its HTTP limits (the {@code limits} block), which requests it takes at all */
  public Listening listening() {
    return new Listening(host, port, limits.server(), RequestPolicy.of(allowedHosts, allowedOrigins));
  }

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
}
