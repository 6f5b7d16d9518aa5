package io.iqa.client;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.iqa.protocol.config.ConfigException;
import io.iqa.protocol.config.ConfigReader;
import io.iqa.protocol.config.Matches;
import io.iqa.protocol.config.Range;
import io.iqa.protocol.config.EnvOverrides;
import io.iqa.protocol.wire.LeaseRequest;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code conf/client.json} plus environment overrides ({@code IQA_CLIENT_<KEY>} or
 * {@code IQA_CLIENT_<BLOCK>_<KEY>}, values read as JSON when they parse; the broker's URL and token
 * from {@code GPU_LEASE_URL} and {@code GPU_LEASE_TOKEN}, as the scripts read them), read with the project's
 * one config reader: every key of every block and every type is checked when the config is
 * loaded, and a mistake is a {@link ConfigException} naming the key.
 */
public record ClientConfig(@Matches(value = Matches.HTTP_URL, what = Matches.HTTP_URL_RULE) String sidecarUrl,
    @Matches(value = Matches.HTTP_URL, what = Matches.HTTP_URL_RULE) String brokerUrl,
    @Matches(value = Matches.TOKEN, what = Matches.TOKEN_RULE) String token,
    @Matches(value = Matches.TOKEN, what = Matches.TOKEN_RULE) String brokerToken,
    List<String> models, @Range(min = 1, max = 256) int concurrency, @Range(min = 0.1, max = 86_400) double timeoutS,
    @Matches(value = LeaseRequest.OWNER_PATTERN, what = LeaseRequest.OWNER_RULE) String owner,
    @Range(min = 0, max = 86_400 * 7) double selfLeaseMaxAgeS, Cache cache, ContainerFallback.Settings fallback) {

  private static final String ENV_PREFIX = "IQA_CLIENT_";
  private static final ClientConfig DEFAULTS = new ClientConfig("http://127.0.0.1:8471", "http://127.0.0.1:8470", null,
      null, List.of(), 4, 120, "iqa-client", LeaseClient.DEFAULT_SELF_LEASE_MAX_AGE_S, new Cache(100_000, null),
      ContainerFallback.Settings.defaults());

  /** The {@code cache} block: scores kept in memory, and the folder of the cache on disk (null: none). */
  public record Cache(@Range(min = 0, max = 1L << 31) long maxEntries, Path dir) {
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
    String text = "{}";
    if (file != null) {
      try {
        text = Files.readString(file);
        ConfigReader.tree(text);
      } catch (IOException | ConfigException e) {
        throw new ConfigException("cannot read client config " + file + ": " + e.getMessage(), e);
      }
    }
    ObjectNode json = EnvOverrides.apply(text, ENV_PREFIX, env, ClientConfig.class);
    json.setAll(ConfigReader.toTree(leaseEnv(env)));
    json.setAll(ConfigReader.toTree(commandLine));
    // The fallback's lease is the client's owner's unless its block names another.
    if (json.hasNonNull("owner") && json.get("fallback") instanceof ObjectNode fallback && !fallback.hasNonNull("owner")) {
      fallback.set("owner", json.get("owner"));
    } else if (json.hasNonNull("owner") && !json.hasNonNull("fallback")) {
      json.putObject("fallback").set("owner", json.get("owner"));
    }
    return ConfigReader.read(json, DEFAULTS);
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
        .cacheMaxEntries(cache.maxEntries())
        .brokerUrl(brokerUrl, brokerToken)
        .fallback(fallback.enabled() ? fallback : null);
    if (cache.dir() != null) {
      b.cacheDir(cache.dir());
    }
    return b;
  }
}
