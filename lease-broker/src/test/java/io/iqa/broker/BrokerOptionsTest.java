package io.iqa.broker;

import io.iqa.broker.gpu.GpuDevice;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.protocol.config.ConfigException;
import io.iqa.server.ConfigFile;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BrokerOptionsTest {

  @Test
  void defaultsMatchTheDocumentedOnes() {
    BrokerOptions o = BrokerOptions.read(new JsonObject());
    assertEquals("127.0.0.1", o.host());
    assertEquals(8470, o.port());
    assertNull(o.gpus(), "no gpus configured means: detect them");
    assertEquals(300, o.defaultTtlS());
    assertEquals(3600, o.maxTtlS());
    assertEquals(900, o.staleMaxAgeS());
    assertEquals(1000, o.reaperIntervalMs());
    assertNull(o.redisStore(), "the memory store");
    assertTrue(o.authTokens().isEmpty());
  }

  @Test
  void environmentOverridesTheFileAndNamesItsVariables() {
    JsonObject file = new JsonObject().put("stale_max_age_s", 100).put("port", 9000);
    JsonObject merged = BrokerOptions.applyEnv(file, Map.of(
        "GPU_LEASE_STALE_MAX_AGE", "42",
        "GPU_LEASE_GPUS", "[{\"index\":0,\"vram_mb\":24576},{\"index\":1,\"vram_mb\":24576}]",
        "GPU_LEASE_HOST", "0.0.0.0"));
    BrokerOptions o = BrokerOptions.read(merged);
    assertEquals(42, o.staleMaxAgeS());
    assertEquals(9000, o.port(), "keys without a variable keep the file's value");
    assertEquals("0.0.0.0", o.host());
    assertEquals(List.of(new GpuDevice(0, 24576), new GpuDevice(1, 24576)), o.gpus());

    ConfigException bad = assertThrows(ConfigException.class,
        () -> BrokerOptions.applyEnv(new JsonObject(), Map.of("GPU_LEASE_PORT", "eighty")));
    assertTrue(bad.getMessage().contains("GPU_LEASE_PORT"), bad.getMessage());
    // A value that is not JSON is an error naming the variable, not a silent false.
    ConfigException yes = assertThrows(ConfigException.class,
        () -> BrokerOptions.applyEnv(new JsonObject(), Map.of("GPU_LEASE_STATE_FSYNC", "yes")));
    assertTrue(yes.getMessage().startsWith("GPU_LEASE_STATE_FSYNC must be JSON"), yes.getMessage());
    assertTrue(BrokerOptions.read(BrokerOptions.applyEnv(new JsonObject(), Map.of("GPU_LEASE_STATE_FSYNC", "true")))
        .stateFsync());
    // A typo in a variable's name is refused too (the key's own name is not the variable's), the clients' are not.
    ConfigException typo = assertThrows(ConfigException.class,
        () -> BrokerOptions.applyEnv(new JsonObject(), Map.of("GPU_LEASE_MAX_TTL_S", "10")));
    assertTrue(typo.getMessage().startsWith("GPU_LEASE_MAX_TTL_S names no broker setting"), typo.getMessage());
    BrokerOptions.applyEnv(new JsonObject(), Map.of("GPU_LEASE_URL", "http://x:8470", "GPU_LEASE_ID", "7"));
  }

  @Test
  void redisStoreIsConfiguredByFileOrByGpuLeaseRedisUrl() {
    BrokerOptions fromEnv = BrokerOptions.read(BrokerOptions.applyEnv(
        new JsonObject().put("store", new JsonObject().put("type", "memory")),
        Map.of("GPU_LEASE_REDIS_URL", "redis://10.0.0.5:6380/2")));
    assertEquals("redis://10.0.0.5:6380/2", fromEnv.redisStore().url());
    assertEquals("gpu-lease:", fromEnv.redisStore().keyPrefix(), "the rest of the block keeps its defaults");
    // docker compose: the image's config names a state file for a broker on its own; on Redis it does not apply.
    BrokerOptions compose = BrokerOptions.read(BrokerOptions.applyEnv(new JsonObject()
        .put("store", new JsonObject().put("type", "memory")).put("state_file", "/data/broker-state.jsonl"),
        Map.of("GPU_LEASE_REDIS_URL", "redis://redis:6379/0")));
    assertEquals("redis://redis:6379/0", compose.redisStore().url());
    assertEquals(null, compose.stateFile());
    assertMessage(new JsonObject().put("store", new JsonObject().put("type", "redis").put("host", "x")),
        "unknown config key 'store.host'");
    assertMessage(new JsonObject().put("store", new JsonObject().put("type", "redis").put("url", "http://x")),
        "redis:// URL");
  }

  @Test
  void mistakesInTheConfigNameTheKey() {
    assertMessage(new JsonObject().put("stale_max_age", 5), "unknown config key 'stale_max_age'");
    assertMessage(new JsonObject().put("port", "80"), "port must be a whole number between 0 and 65535, not \"80\"");
    assertMessage(new JsonObject().put("default_ttl_s", 500).put("max_ttl_s", 100), "must not exceed max_ttl_s");
    assertMessage(new JsonObject().put("gpus", new io.vertx.core.json.JsonArray().add(new JsonObject().put("vram_mb", 1))),
        "gpus[0].index is required");
    assertMessage(new JsonObject().put("limits", new JsonObject().put("idle_timeout", 5)),
        "unknown config key 'limits.idle_timeout'");
    assertMessage(new JsonObject().put("auth", new JsonObject().put("tokens", new io.vertx.core.json.JsonArray()
        .add(new JsonObject().put("name", "x").put("token_sha256", "a".repeat(64)).put("owners", "x")))),
        "auth.tokens[0].owners must be a list of strings");
    assertMessage(new JsonObject().put("store", new JsonObject().put("type", "etcd")), "store.type");
    assertMessage(new JsonObject().put("auth", new JsonObject().put("tokens", new io.vertx.core.json.JsonArray()
        .add(new JsonObject().put("name", "x").put("token_sha256", "abc")))), "64 hex digits");
  }

  @Test
  void theBrokerProgramResolvesItsStateFile(@TempDir Path dir) {
    Path fallback = dir.resolve("default-state.jsonl");
    assertEquals(fallback, BrokerOptions.read(new JsonObject(), dir, fallback).stateFile(), "a plain start keeps state");
    assertEquals(dir.resolve("s.jsonl"), BrokerOptions.read(new JsonObject().put("state_file", "s.jsonl"), dir, fallback)
        .stateFile(), "a relative state_file is the config folder's");
    assertNull(BrokerOptions.read(new JsonObject().putNull("state_file"), dir, fallback).stateFile(),
        "\"state_file\": null keeps no state");
    assertNull(BrokerOptions.read(new JsonObject().put("store", new JsonObject().put("type", "redis")), dir, fallback)
        .stateFile(), "the redis store keeps its state in Redis");
    assertMessage(new JsonObject().put("store", new JsonObject().put("type", "memory").put("url", "redis://x")),
        "unknown config key 'store.url'");
    assertMessage(new JsonObject().put("limits", new JsonObject().put("max_connections", 10).put("max_streams", 10)),
        "limits.max_streams (10) must stay below max_connections (10)");
    // What a hostile probe got past the first version: a Java exception's text, a silent accept.
    assertMessage(new JsonObject().put("allowed_hosts", new io.vertx.core.json.JsonArray().addNull()),
        "allowed_hosts[0] must not be null");
    assertMessage(new JsonObject().put("host", "a b"), "host must be a host name or address, not \"a b\"");
    assertMessage(new JsonObject().put("priority_aging_s", "NaN"), "priority_aging_s must be a finite number");
    assertEquals(Path.of("/var/lib/iqa/state:1.jsonl"), BrokerOptions.read(new JsonObject()
        .put("state_file", "/var/lib/iqa/state:1.jsonl")).stateFile());
    assertMessage(new JsonObject().put("auth", new JsonObject().put("tokens", new io.vertx.core.json.JsonArray()
        .add(new JsonObject().put("name", "x").put("token_sha256", "a".repeat(64)).put("owners",
            new io.vertx.core.json.JsonArray().add("bad owner"))))), "auth.tokens[0].owners[0] must be 1 to 64");
  }

  @Test
  void readsTheShippedConfigFile(@TempDir Path dir) throws Exception {
    BrokerOptions shipped = BrokerOptions.read(ConfigFile.read(Path.of("../conf/broker.json")));
    assertEquals(8470, shipped.port());
    Path broken = dir.resolve("broken.json");
    Files.writeString(broken, "{ not json");
    ConfigException e = assertThrows(ConfigException.class, () -> ConfigFile.read(broken));
    assertTrue(e.getMessage().contains("broken.json"), e.getMessage());
  }

  private static void assertMessage(JsonObject json, String expected) {
    ConfigException e = assertThrows(ConfigException.class, () -> BrokerOptions.read(json));
    assertTrue(e.getMessage().contains(expected), "message '" + e.getMessage() + "' lacks '" + expected + "'");
  }
}
