package io.iqa.sidecar.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.holder.OnLeaseLost;
import io.iqa.protocol.config.ConfigException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SidecarOptionsTest {

  @Test
  void theShippedConfigParsesAndSharesTheGpuByDefault() throws Exception {
    JsonObject shipped = new JsonObject(java.nio.file.Files.readString(java.nio.file.Path.of("../conf/sidecar.json")));
    SidecarOptions o = SidecarOptions.read(shipped);
    io.iqa.sidecar.model.ModelRegistry.check(shipped, java.nio.file.Path.of("../conf"));
    assertTrue(o.leaseYield(), "the shipped sidecar yields the GPU when asked");
    assertEquals(300, o.idleReleaseS());
    assertEquals(OnLeaseLost.IDLE, o.onLeaseLost());
    assertTrue(o.leaseRequest().yieldable());
    SidecarOptions defaults = SidecarOptions.read(new JsonObject());
    assertTrue(defaults.leaseYield() && defaults.idleReleaseS() == 300 && defaults.leaseRequest().waitS() == 60,
        "the same without a config file");
  }

  @Test
  void everyKeyCanBeSetFromTheEnvironment() {
    JsonObject file = new JsonObject().put("port", 8471).put("batching", new JsonObject().put("workers", 3));
    SidecarOptions o = SidecarOptions.read(SidecarOptions.applyEnv(file, Map.of(
        "IQA_SIDECAR_PORT", "9000",
        "IQA_SIDECAR_BATCHING_MAX_QUEUE_DELAY_MS", "2",
        "IQA_SIDECAR_BROKER_URL", "http://10.0.0.7:8470",
        "IQA_SIDECAR_LEASE_REQUIRED", "true",
        "IQA_SIDECAR_ALLOWED_ROOTS", "[\"/data/photos\"]",
        "IQA_SIDECAR_CACHE_REDIS_URL", "redis://127.0.0.1:6379/1",
        "PATH", "/usr/bin")));
    assertEquals(9000, o.port());
    assertEquals(2, o.batching().maxQueueDelayMs());
    assertEquals(3, o.batching().workers(), "keys the environment does not name keep the file's value");
    assertEquals("http://10.0.0.7:8470", o.broker().url());
    assertTrue(o.leaseRequired());
    assertEquals(List.of(java.nio.file.Path.of("/data/photos")), o.allowedRoots());
    assertEquals("redis://127.0.0.1:6379/1", o.cache().redisUrl());
    // A text key's value is its text: an owner of digits, a token that reads as JSON.
    SidecarOptions text = SidecarOptions.read(SidecarOptions.applyEnv(new JsonObject(), Map.of(
        "IQA_SIDECAR_LEASE_OWNER", "12", "IQA_SIDECAR_BROKER_URL", "http://b:8470", "IQA_SIDECAR_BROKER_TOKEN", "true")));
    assertEquals("12", text.leaseRequest().owner());
    assertEquals("true", text.broker().token());
  }

  @Test
  void typosAreRefusedWithTheKnownNames() {
    ConfigException env = assertThrows(ConfigException.class,
        () -> SidecarOptions.applyEnv(new JsonObject(), Map.of("IQA_SIDECAR_PROT", "9000")));
    assertTrue(env.getMessage().contains("IQA_SIDECAR_PROT names no config key"), env.getMessage());
    ConfigException file = assertThrows(ConfigException.class,
        () -> SidecarOptions.read(new JsonObject().put("idle_shutdown", 5)));
    assertTrue(file.getMessage().contains("unknown config key 'idle_shutdown'"), file.getMessage());
    assertThrows(ConfigException.class, () -> SidecarOptions.read(new JsonObject().put("on_lease_lost", "pause")));
    // Inside a block too, and with the type named: no silent default, no ClassCastException.
    ConfigException block = assertThrows(ConfigException.class, () -> SidecarOptions.read(new JsonObject()
        .put("batching", new JsonObject().put("max_queue_delay", 2))));
    assertTrue(block.getMessage().contains("unknown config key 'batching.max_queue_delay'")
        && block.getMessage().contains("max_queue_delay_ms"), block.getMessage());
    ConfigException port = assertThrows(ConfigException.class, () -> SidecarOptions.read(new JsonObject()
        .put("port", "8471")));
    assertTrue(port.getMessage().startsWith("port must be a whole number"), port.getMessage());
    ConfigException ttl = assertThrows(ConfigException.class, () -> SidecarOptions.read(new JsonObject()
        .put("broker", new JsonObject().put("url", "http://b:8470")).put("lease", new JsonObject().put("ttl_s", "60"))));
    assertTrue(ttl.getMessage().startsWith("lease.ttl_s must be a number"), ttl.getMessage());
    // What to ask for moved from the broker block to the lease block: an old config says so.
    ConfigException moved = assertThrows(ConfigException.class, () -> SidecarOptions.read(new JsonObject()
        .put("broker", new JsonObject().put("url", "http://b:8470").put("wait_s", 30))));
    assertTrue(moved.getMessage().startsWith("broker.wait_s is now lease.wait_s"), moved.getMessage());
    assertEquals(0, SidecarOptions.read(new JsonObject().put("models", new JsonArray())).idleShutdownS());
  }

  /** Round 2 (read in the code): max_body_bytes up to 2^31 met an int cast (NegativeArraySizeException past 1 GiB). */
  @Test
  void aBodyLimitBeyondWhatOneBufferHoldsIsAConfigErrorNamingTheKey() {
    for (String key : java.util.List.of("max_body_bytes", "max_image_bytes")) {
      io.iqa.protocol.config.ConfigException e = org.junit.jupiter.api.Assertions.assertThrows(
          io.iqa.protocol.config.ConfigException.class, () -> SidecarOptions.read(new io.vertx.core.json.JsonObject()
              .put(key, 2147483648L)));
      org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains(key) && e.getMessage().contains("1073741824"),
          e.getMessage());
    }
    SidecarOptions.read(new io.vertx.core.json.JsonObject().put("max_body_bytes", 1L << 30));
  }
}
