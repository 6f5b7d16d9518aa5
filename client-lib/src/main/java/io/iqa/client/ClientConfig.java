package io.iqa.client;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * {@code conf/client.json} plus environment overrides ({@code IQA_CLIENT_<KEY>} or
 * {@code IQA_CLIENT_<BLOCK>_<KEY>}, values read as JSON when they parse). Unknown keys are refused.
 */
public final class ClientConfig {

  private static final Set<String> KEYS = Set.of("sidecar_url", "broker_url", "token", "broker_token", "models",
      "concurrency", "timeout_s", "owner", "self_lease_max_age_s", "cache", "fallback");
  private static final Set<String> BLOCKS = Set.of("cache", "fallback");

  private final ObjectNode json;

  private ClientConfig(ObjectNode json) {
    this.json = json;
    json.fieldNames().forEachRemaining(k -> {
      if (!KEYS.contains(k)) {
        throw new IqaException("unknown client config key '" + k + "' (known: " + KEYS.stream().sorted().toList() + ")");
      }
    });
  }

  /** @param file the JSON file, or null for the defaults */
  public static ClientConfig load(Path file, Map<String, String> env) {
    ObjectNode json;
    try {
      json = file == null ? Http.object() : (ObjectNode) Http.JSON.readTree(Files.readString(file));
    } catch (IOException | ClassCastException e) {
      throw new IqaException("cannot read client config " + file + ": " + e.getMessage(), e);
    }
    for (Map.Entry<String, String> e : new TreeMap<>(env).entrySet()) {
      if (!e.getKey().startsWith("IQA_CLIENT_") || e.getValue().isBlank()) {
        continue;
      }
      String name = e.getKey().substring("IQA_CLIENT_".length()).toLowerCase(Locale.ROOT);
      JsonNode value = parse(e.getValue().trim());
      if (KEYS.contains(name) && !BLOCKS.contains(name)) {
        json.set(name, value);
        continue;
      }
      int cut = name.indexOf('_');
      String block = cut < 0 ? name : name.substring(0, cut);
      if (cut < 0 || !BLOCKS.contains(block)) {
        throw new IqaException(e.getKey() + " names no client config key");
      }
      JsonNode existing = json.get(block);
      ObjectNode nested = existing instanceof ObjectNode o ? o : json.putObject(block);
      nested.set(name.substring(cut + 1), value);
    }
    return new ClientConfig(json);
  }

  public String brokerUrl() {
    return json.path("broker_url").asText("http://127.0.0.1:8470");
  }

  public String brokerToken() {
    return json.path("broker_token").asText(null);
  }

  public String owner() {
    return json.path("owner").asText("iqa-client");
  }

  public double selfLeaseMaxAgeS() {
    return json.path("self_lease_max_age_s").asDouble(LeaseClient.DEFAULT_SELF_LEASE_MAX_AGE_S);
  }

  public LeaseClient leaseClient() {
    return new LeaseClient(brokerUrl(), brokerToken(), selfLeaseMaxAgeS());
  }

  /** @return a builder with every setting of this config applied */
  public IqaClient.Builder clientBuilder() {
    IqaClient.Builder b = IqaClient.builder()
        .sidecarUrl(json.path("sidecar_url").asText("http://127.0.0.1:8471"))
        .token(json.path("token").asText(null))
        .timeout(Duration.ofMillis((long) (json.path("timeout_s").asDouble(120) * 1000)))
        .concurrency(json.path("concurrency").asInt(4));
    List<String> models = new ArrayList<>();
    json.path("models").forEach(m -> models.add(m.asText()));
    b.models(models);
    JsonNode cache = json.path("cache");
    b.cacheMaxEntries(cache.path("max_entries").asLong(100_000));
    if (cache.hasNonNull("dir")) {
      b.cacheDir(Path.of(cache.path("dir").asText()));
    }
    b.brokerUrl(brokerUrl(), brokerToken());
    JsonNode fb = json.path("fallback");
    if (!fb.path("enabled").asBoolean(true)) {
      b.fallback(null);
    } else {
      ContainerFallback.Settings d = ContainerFallback.Settings.defaults();
      b.fallback(new ContainerFallback.Settings(strings(fb.path("command"), d.command()),
          strings(fb.path("gpu_args"), d.gpuArgs()), fb.path("image").asText(d.image()),
          fb.path("cpu_image").asText(d.cpuImage()), fb.path("timeout_s").asLong(d.timeoutS()),
          fb.path("lease_wait_s").asDouble(d.leaseWaitS()), fb.path("lease_ttl_s").asDouble(d.leaseTtlS()),
          fb.hasNonNull("gpu") ? fb.path("gpu").asInt() : null, fb.path("on_no_lease").asText(d.onNoLease()), owner(),
          fb.path("search_path").asText(null)));
    }
    return b;
  }

  private static List<String> strings(JsonNode list, List<String> def) {
    if (!list.isArray()) {
      return def;
    }
    List<String> out = new ArrayList<>();
    list.forEach(a -> out.add(a.asText()));
    return out;
  }

  private static JsonNode parse(String v) {
    try {
      return Http.JSON.readTree(v);
    } catch (IOException e) {
      return Http.JSON.getNodeFactory().textNode(v);
    }
  }
}
