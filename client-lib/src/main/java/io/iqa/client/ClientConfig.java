package io.iqa.client;

import com.fasterxml.jackson.core.type.TypeReference;
import io.iqa.protocol.config.ConfigException;
import io.iqa.protocol.config.ConfigNode;
import io.iqa.protocol.config.EnvOverrides;
import io.iqa.protocol.wire.LeaseRequest;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * {@code conf/client.json} plus environment overrides ({@code IQA_CLIENT_<KEY>} or
 * {@code IQA_CLIENT_<BLOCK>_<KEY>}, values read as JSON when they parse; the broker's URL and token
 * from {@code GPU_LEASE_URL} and {@code GPU_LEASE_TOKEN}, as the scripts read them), read with the project's
 * one config reader: every key of every block and every type is checked when the config is
 * loaded, and a mistake is a {@link ConfigException} naming the key.
 */
public final class ClientConfig {

  private static final String ENV_PREFIX = "IQA_CLIENT_";
  private static final Set<String> BLOCKS = Set.of("cache", "fallback");
  private static final Set<String> KEYS = Set.of("sidecar_url", "broker_url", "token", "broker_token", "models",
      "concurrency", "timeout_s", "owner", "self_lease_max_age_s", "cache", "fallback");
  private static final Set<String> FALLBACK_KEYS = Set.of("enabled", "command", "gpu_args", "image", "cpu_image",
      "timeout_s", "lease_wait_s", "lease_ttl_s", "gpu", "on_no_lease", "search_path", "stop_grace_s");
  private static final Pattern URL = Pattern.compile("https?://.+");

  private final String sidecarUrl;
  private final String brokerUrl;
  private final String token;
  private final String brokerToken;
  private final String owner;
  private final double selfLeaseMaxAgeS;
  private final List<String> models;
  private final int concurrency;
  private final double timeoutS;
  private final long cacheMaxEntries;
  private final String cacheDir;
  private final ContainerFallback.Settings fallback;

  private ClientConfig(ConfigNode c) {
    c.known(KEYS);
    sidecarUrl = c.string("sidecar_url", "http://127.0.0.1:8471", URL, "an http:// URL");
    brokerUrl = c.string("broker_url", "http://127.0.0.1:8470", URL, "an http:// URL");
    token = c.string("token", null);
    brokerToken = c.string("broker_token", null);
    owner = c.string("owner", "iqa-client", LeaseRequest.OWNER, "[A-Za-z0-9._-]{1,64}");
    selfLeaseMaxAgeS = c.number("self_lease_max_age_s", LeaseClient.DEFAULT_SELF_LEASE_MAX_AGE_S, 0, 86_400 * 7);
    models = c.strings("models", List.of());
    concurrency = (int) c.integer("concurrency", 4, 1, 256);
    timeoutS = c.number("timeout_s", 120, 0.1, 86_400);
    ConfigNode cache = c.block("cache").known(Set.of("max_entries", "dir"));
    cacheMaxEntries = cache.integer("max_entries", 100_000, 0, 1L << 31);
    cacheDir = cache.string("dir", null);
    ConfigNode fb = c.block("fallback").known(FALLBACK_KEYS);
    ContainerFallback.Settings d = ContainerFallback.Settings.defaults();
    Long gpu = fb.optionalInteger("gpu", 0, 1024);
    try {
      fallback = !fb.bool("enabled", true) ? null : new ContainerFallback.Settings(
          fb.strings("command", d.command()), fb.strings("gpu_args", d.gpuArgs()), fb.string("image", d.image()),
          fb.string("cpu_image", d.cpuImage()), fb.integer("timeout_s", d.timeoutS(), 1, 86_400),
          fb.number("lease_wait_s", d.leaseWaitS(), 0, 86_400), fb.number("lease_ttl_s", d.leaseTtlS(), 1, 86_400),
          gpu == null ? null : gpu.intValue(),
          ContainerFallback.OnNoLease.fromWire(fb.choice("on_no_lease", "cpu", Set.of("cpu", "fail"))), owner,
          fb.string("search_path", null), fb.number("stop_grace_s", d.stopGraceS(), 0.1, 3600));
    } catch (IqaException e) {
      throw new ConfigException(e.getMessage(), e);
    }
  }

  /**
   * @param file the JSON file, or null for the defaults
   * @throws ConfigException naming the key, or the file that cannot be read
   */
  public static ClientConfig load(Path file, Map<String, String> env) {
    return load(file, env, Map.of());
  }

  /**
   * The file, then the environment, then {@code commandLine} (top-level keys, such as
   * {@code sidecar_url} from {@code iqa --sidecar-url}): the later wins.
   *
   * @throws ConfigException naming the key, or the file that cannot be read
   */
  public static ClientConfig load(Path file, Map<String, String> env, Map<String, ?> commandLine) {
    Map<String, Object> json = new LinkedHashMap<>();
    if (file != null) {
      try {
        json = Http.JSON.readValue(Files.readString(file), new TypeReference<LinkedHashMap<String, Object>>() { });
      } catch (IOException e) {
        throw new ConfigException("cannot read client config " + file + ": " + e.getMessage(), e);
      }
    }
    Set<String> plain = new HashSet<>(KEYS);
    plain.removeAll(BLOCKS);
    json = EnvOverrides.apply(json, ENV_PREFIX, env, plain, BLOCKS, v -> {
      try {
        return Http.JSON.readValue(v, Object.class);
      } catch (IOException e) {
        throw new IllegalArgumentException(e);
      }
    });
    json.putAll(leaseEnv(env));
    json.putAll(commandLine);
    return new ClientConfig(ConfigNode.root(json));
  }

  /** The broker's URL and token, the same two variables for every script, {@code iqa} and both clients. */
  public static final String URL_VARIABLE = "GPU_LEASE_URL";
  public static final String TOKEN_VARIABLE = "GPU_LEASE_TOKEN";
  private static final Map<String, String> DEPRECATED = Map.of(URL_VARIABLE, ENV_PREFIX + "BROKER_URL",
      TOKEN_VARIABLE, ENV_PREFIX + "BROKER_TOKEN");

  /**
   * {@code GPU_LEASE_URL} and {@code GPU_LEASE_TOKEN} as {@code broker_url} and {@code
   * broker_token}; the old {@code IQA_CLIENT_BROKER_URL}/{@code _TOKEN} (applied with the other
   * {@code IQA_CLIENT_*}) still work, with a line saying which name to use, and lose to the new ones.
   */
  private static Map<String, Object> leaseEnv(Map<String, String> env) {
    Map<String, Object> out = new LinkedHashMap<>();
    for (Map.Entry<String, String> e : DEPRECATED.entrySet()) {
      String value = env.get(e.getKey());
      String old = env.get(e.getValue());
      if (old != null && !old.isBlank()) {
        org.slf4j.LoggerFactory.getLogger(ClientConfig.class).warn("{} is deprecated: set {} (every script, iqa and "
            + "both clients read it){}", e.getValue(), e.getKey(), value != null && !value.isBlank()
                && !value.equals(old) ? "; " + e.getKey() + " is set too and wins" : "");
      }
      if (value != null && !value.isBlank()) {
        out.put(e.getKey().equals(URL_VARIABLE) ? "broker_url" : "broker_token", value);
      }
    }
    return out;
  }

  public String brokerUrl() {
    return brokerUrl;
  }

  public String brokerToken() {
    return brokerToken;
  }

  public String owner() {
    return owner;
  }

  public double selfLeaseMaxAgeS() {
    return selfLeaseMaxAgeS;
  }

  public LeaseClient leaseClient() {
    return new LeaseClient(brokerUrl, brokerToken, selfLeaseMaxAgeS);
  }

  /** @return a builder with every setting of this config applied */
  public IqaClient.Builder clientBuilder() {
    IqaClient.Builder b = IqaClient.builder()
        .sidecarUrl(sidecarUrl)
        .token(token)
        .timeout(Duration.ofMillis((long) (timeoutS * 1000)))
        .concurrency(concurrency)
        .models(models)
        .cacheMaxEntries(cacheMaxEntries)
        .brokerUrl(brokerUrl, brokerToken)
        .fallback(fallback);
    if (cacheDir != null) {
      b.cacheDir(Path.of(cacheDir));
    }
    return b;
  }
}
