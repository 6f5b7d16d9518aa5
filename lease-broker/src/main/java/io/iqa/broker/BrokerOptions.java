package io.iqa.broker;

import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
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
  public static final double DEFAULT_TTL_S = 300;
  public static final double DEFAULT_MAX_TTL_S = 3600;
  public static final double DEFAULT_MAX_WAIT_S = 3600;
  public static final double DEFAULT_STALE_MAX_AGE_S = 900;
  public static final long DEFAULT_REAPER_INTERVAL_MS = 1000;
  public static final double DEFAULT_PRIORITY_AGING_S = 30;
  public static final int DEFAULT_EVENTS_MAX = 1000;
  public static final String DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0";
  public static final String DEFAULT_REDIS_PREFIX = "gpu-lease:";
  public static final int DEFAULT_REDIS_POOL_SIZE = 16;
  public static final boolean DEFAULT_STATE_FSYNC = false;

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
      Map.entry("GPU_LEASE_RECOVERY_GRACE", "recovery_grace_s"));

  private static final Set<String> KEYS = Set.of("host", "port", "gpus", "default_ttl_s", "max_ttl_s",
      "max_wait_s", "stale_max_age_s", "reaper_interval_ms", "priority_aging_s", "events_max", "store", "auth",
      "state_file", "state_fsync", "recovery_grace_s");

  private String host = DEFAULT_HOST;
  private int port = DEFAULT_PORT;
  private List<GpuDevice> gpus;
  private double defaultTtlS = DEFAULT_TTL_S;
  private double maxTtlS = DEFAULT_MAX_TTL_S;
  private double maxWaitS = DEFAULT_MAX_WAIT_S;
  private double staleMaxAgeS = DEFAULT_STALE_MAX_AGE_S;
  private long reaperIntervalMs = DEFAULT_REAPER_INTERVAL_MS;
  private double priorityAgingS = DEFAULT_PRIORITY_AGING_S;
  private int eventsMax = DEFAULT_EVENTS_MAX;
  private JsonObject store = new JsonObject().put("type", "memory");
  private List<AuthToken> authTokens = List.of();
  private Path stateFile;
  private boolean stateFsync = DEFAULT_STATE_FSYNC;
  private Double recoveryGraceS;
  private boolean fresh;

  public BrokerOptions() {
  }

  /** @throws ConfigException naming the offending key */
  public BrokerOptions(JsonObject json) {
    for (String key : json.fieldNames()) {
      if (!KEYS.contains(key)) {
        throw new ConfigException("unknown config key '" + key + "' (known: " + String.join(", ", sortedKeys()) + ")");
      }
    }
    host = string(json, "host", host);
    port = (int) number(json, "port", port, 0, 65535);
    if (json.containsKey("gpus") && json.getValue("gpus") != null) {
      gpus = parseGpus(json.getValue("gpus"));
    }
    defaultTtlS = number(json, "default_ttl_s", defaultTtlS, 1, 86_400 * 7);
    maxTtlS = number(json, "max_ttl_s", maxTtlS, 1, 86_400 * 7);
    maxWaitS = number(json, "max_wait_s", maxWaitS, 0, 86_400);
    staleMaxAgeS = number(json, "stale_max_age_s", staleMaxAgeS, 0.001, 86_400 * 365);
    reaperIntervalMs = (long) number(json, "reaper_interval_ms", reaperIntervalMs, 10, 3_600_000);
    priorityAgingS = number(json, "priority_aging_s", priorityAgingS, 0, 86_400);
    eventsMax = (int) number(json, "events_max", eventsMax, 1, 1_000_000);
    if (defaultTtlS > maxTtlS) {
      throw new ConfigException("default_ttl_s (" + defaultTtlS + ") must not exceed max_ttl_s (" + maxTtlS + ")");
    }
    if (json.containsKey("store")) {
      store = object(json, "store");
      validateStore(store);
    }
    String file = json.getValue("state_file") == null ? null : string(json, "state_file", null);
    stateFile = file == null ? null : Path.of(file);
    if (stateFile != null && !"memory".equals(store.getString("type"))) {
      throw new ConfigException("state_file is for the memory store; the redis store keeps its state in Redis");
    }
    Object fsync = json.getValue("state_fsync");
    if (fsync != null && !(fsync instanceof Boolean)) {
      throw new ConfigException("state_fsync must be true or false, not " + fsync);
    }
    stateFsync = fsync == null ? DEFAULT_STATE_FSYNC : (Boolean) fsync;
    if (json.getValue("recovery_grace_s") != null) {
      recoveryGraceS = number(json, "recovery_grace_s", 0, 0, 86_400 * 7);
    }
    if (json.containsKey("auth")) {
      JsonObject auth = object(json, "auth");
      JsonArray tokens = auth.getJsonArray("tokens", new JsonArray());
      List<AuthToken> parsed = new ArrayList<>();
      for (Object t : tokens) {
        if (!(t instanceof JsonObject o)) {
          throw new ConfigException("auth.tokens must be a list of objects");
        }
        parsed.add(AuthToken.fromJson(o));
      }
      authTokens = List.copyOf(parsed);
    }
  }

  /** Reads a JSON config file. @throws ConfigException when unreadable or not a JSON object */
  public static JsonObject readFile(Path file) {
    try {
      return new JsonObject(Files.readString(file));
    } catch (IOException e) {
      throw new ConfigException("cannot read config file " + file + ": " + e.getMessage(), e);
    } catch (DecodeException e) {
      throw new ConfigException("config file " + file + " is not a JSON object: " + e.getMessage(), e);
    }
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
        case "host", "state_file" -> value;
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

  private static void validateStore(JsonObject store) {
    Object type = store.getValue("type");
    if ("memory".equals(type)) {
      if (store.size() > 1) {
        throw new ConfigException("store of type 'memory' takes no other keys, got " + store.fieldNames());
      }
      return;
    }
    if (!"redis".equals(type)) {
      throw new ConfigException("store.type must be 'memory' or 'redis', not '" + type + "'");
    }
    for (String key : store.fieldNames()) {
      if (!Set.of("type", "url", "key_prefix", "pool_size").contains(key)) {
        throw new ConfigException("unknown store key '" + key + "' (redis store: url, key_prefix, pool_size)");
      }
    }
    String url = string(store, "url", DEFAULT_REDIS_URL);
    if (!url.startsWith("redis://") && !url.startsWith("rediss://") && !url.startsWith("unix://")) {
      throw new ConfigException("store.url must be a redis:// URL, not '" + url + "'");
    }
    string(store, "key_prefix", DEFAULT_REDIS_PREFIX);
    number(store, "pool_size", DEFAULT_REDIS_POOL_SIZE, 1, 1024);
  }

  private static List<GpuDevice> parseGpus(Object value) {
    if (!(value instanceof JsonArray array)) {
      throw new ConfigException("gpus must be a list of {\"index\": i, \"vram_mb\": m}");
    }
    List<GpuDevice> list = new ArrayList<>();
    for (Object o : array) {
      if (!(o instanceof JsonObject g)) {
        throw new ConfigException("gpus must be a list of {\"index\": i, \"vram_mb\": m}");
      }
      int index = (int) number(g, "index", -1, 0, 1024);
      if (!g.containsKey("index")) {
        throw new ConfigException("gpus[].index is required");
      }
      int vram = (int) number(g, "vram_mb", 0, 0, 16 * 1024 * 1024);
      if (list.stream().anyMatch(d -> d.index() == index)) {
        throw new ConfigException("gpus lists index " + index + " twice");
      }
      list.add(new GpuDevice(index, vram));
    }
    if (list.isEmpty()) {
      throw new ConfigException("gpus must name at least one device");
    }
    return List.copyOf(list);
  }

  private static String string(JsonObject json, String key, String def) {
    Object v = json.getValue(key);
    if (v == null) {
      return def;
    }
    if (!(v instanceof String s) || s.isBlank()) {
      throw new ConfigException(key + " must be a non-empty string");
    }
    return s;
  }

  private static double number(JsonObject json, String key, double def, double min, double max) {
    Object v = json.getValue(key);
    if (v == null) {
      return def;
    }
    if (!(v instanceof Number n)) {
      throw new ConfigException(key + " must be a number, not " + v);
    }
    double d = n.doubleValue();
    if (Double.isNaN(d) || d < min || d > max) {
      throw new ConfigException(key + " must be between " + min + " and " + max + ", not " + d);
    }
    return d;
  }

  private static JsonObject object(JsonObject json, String key) {
    Object v = json.getValue(key);
    if (!(v instanceof JsonObject o)) {
      throw new ConfigException(key + " must be a JSON object");
    }
    return o;
  }

  private static List<String> sortedKeys() {
    return KEYS.stream().sorted().toList();
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
  public JsonObject store() { return store; }
  public List<AuthToken> authTokens() { return authTokens; }
  /** @return the memory store's state file, or null (state kept in this process only) */
  public Path stateFile() { return stateFile; }
  public boolean stateFsync() { return stateFsync; }
  /** @return how long a broker that starts without its lease state grants nothing: max_ttl_s unless configured */
  public double recoveryGraceS() { return recoveryGraceS != null ? recoveryGraceS : maxTtlS; }
  /** @return whether the operator said no lease from an earlier run can be alive (--fresh): no recovery period */
  public boolean fresh() { return fresh; }
  public BrokerOptions fresh(boolean f) { this.fresh = f; return this; }

  /** Resolves a relative state_file against {@code dir} (the config file's folder). */
  public BrokerOptions resolveAgainst(Path dir) {
    if (stateFile != null && !stateFile.isAbsolute() && dir != null) {
      stateFile = dir.resolve(stateFile).normalize();
    }
    return this;
  }
}
