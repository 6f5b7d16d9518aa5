package io.iqa.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.protocol.config.ConfigException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ClientConfigTest {

  @TempDir
  Path dir;

  @Test
  void theFileThenTheEnvironmentThenTheCommandLine() throws Exception {
    Path conf = dir.resolve("client.json");
    Files.writeString(conf, "{\"concurrency\": 2, \"owner\": \"nightly\", \"cache\": {\"max_entries\": 10}}");
    ClientConfig c = ClientConfig.load(conf, Map.of("IQA_CLIENT_CONCURRENCY", "3", "GPU_LEASE_URL", "http://b:8470",
        "IQA_CLIENT_FALLBACK_LEASE_WAIT_S", "5"), Map.of("sidecar_url", "http://s:8471"));
    assertEquals(3, c.concurrency(), "the environment over the file");
    assertEquals("http://b:8470", c.brokerUrl());
    assertEquals("http://s:8471", c.sidecarUrl());
    assertEquals(10, c.cache().maxEntries(), "a block's other keys keep the file's value");
    assertEquals(5, c.fallback().leaseWaitS());
    assertEquals(600, c.fallback().timeoutS(), "and a key nobody gives keeps its default");
    assertEquals("nightly", c.fallback().owner(), "the fallback's lease is taken in the client's name");
    assertEquals("iqa-client", ClientConfig.load(null, Map.of()).fallback().owner());
    assertEquals("nightly", ClientConfig.load(null, Map.of(), Map.of("owner", "nightly", "models", List.of()))
        .fallback().owner());
    Path nullBlock = dir.resolve("null-fallback.json");
    Files.writeString(nullBlock, "{\"owner\": \"good\", \"fallback\": null}");
    assertEquals("good", ClientConfig.load(nullBlock, Map.of()).fallback().owner(), "null is the default block");
    assertEquals("12", ClientConfig.load(null, Map.of("IQA_CLIENT_OWNER", "12")).owner(), "a text key's value is text");
    assertFalse(ClientConfig.load(null, Map.of("IQA_CLIENT_FALLBACK_ENABLED", "false")).fallback().enabled());
  }

  @Test
  void mistakesNameTheKey() throws Exception {
    refused(Map.of("IQA_CLIENT_SIDECARURL", "x"), "IQA_CLIENT_SIDECARURL names no config key");
    refused(Map.of("IQA_CLIENT_CONCURRENCY", "0"), "concurrency must be between 1 and 256, not 0");
    refused(Map.of("IQA_CLIENT_SIDECAR_URL", "127.0.0.1:8471"),
        "sidecar_url must be an http:// URL, not \"127.0.0.1:8471\"");
    refused(Map.of("IQA_CLIENT_FALLBACK_ON_NO_LEASE", "wait"),
        "fallback.on_no_lease must be one of 'cpu', 'fail', not \"wait\"");
    refused(Map.of("IQA_CLIENT_FALLBACK_COMMAND", "[\"docker\", \"run\", \"{cidfile}\"]"),
        "fallback.command needs a {file} argument");
    refused(Map.of("IQA_CLIENT_FALLBACK_IMAGES", "x"), "unknown config key 'fallback.images' (fallback takes: ");
    refused(Map.of("IQA_CLIENT_TOKEN", "abc\r\nX-Evil: 1"), "token must be printable ASCII without spaces");
    refused(Map.of("IQA_CLIENT_TIMEOUT_S", "\"NaN\""), "timeout_s must be a finite number, not NaN");
    refused(Map.of("IQA_CLIENT_CACHE_DIR", "a\u0000b"), "cache.dir must be a path, not \"a\\u0000b\"");
    Path list = dir.resolve("list.json");
    Files.writeString(list, "[1, 2]");
    ConfigException notObject = assertThrows(ConfigException.class, () -> ClientConfig.load(list, Map.of()));
    assertTrue(notObject.getMessage().contains("must be a JSON object, not [1,2]"), notObject.getMessage());
    Path twice = dir.resolve("twice.json");
    Files.writeString(twice, "{\"concurrency\": 1, \"concurrency\": 8}");
    ConfigException dup = assertThrows(ConfigException.class, () -> ClientConfig.load(twice, Map.of()));
    assertTrue(dup.getMessage().contains("Duplicate field 'concurrency'"), dup.getMessage());
    Path broken = dir.resolve("broken.json");
    Files.writeString(broken, "{ not json");
    ConfigException e = assertThrows(ConfigException.class, () -> ClientConfig.load(broken, Map.of()));
    assertTrue(e.getMessage().startsWith("cannot read client config " + broken), e.getMessage());
  }

  private static void refused(Map<String, String> env, String message) {
    ConfigException e = assertThrows(ConfigException.class, () -> ClientConfig.load(null, env));
    assertTrue(e.getMessage().startsWith(message), "'" + e.getMessage() + "' does not start with '" + message + "'");
  }
}
