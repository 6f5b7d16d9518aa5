package io.iqa.protocol.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.protocol.config.Matches;
import io.iqa.protocol.config.Range;
import io.iqa.protocol.config.Required;
import io.iqa.protocol.wire.Priority;
import java.util.List;
import org.junit.jupiter.api.Test;

class ConfigReaderTest {

  record Limits(@Range(min = 100, max = 3_600_000) long idleTimeoutMs, @Range(min = 1, max = 1024) int maxConnections) {
  }

  record Token(@Required("sha256sum of the token") @Matches(value = "[0-9a-f]{64}", what = "64 hex digits") String sha,
      List<String> owners) {
  }

  record Strict(List<String> names) {
    Strict {
      names = List.copyOf(names);
    }
  }

  record Files(java.nio.file.Path stateFile, List<Double> range) {
  }

  record Root(@Range(min = 0, max = 65535) int port, @Range(min = 1, max = 86_400) double ttlS, String host,
      Priority priority, Limits limits, List<Token> tokens, Boolean required) {
    Root {
      if (ttlS > 1000 && port == 1) {
        throw new ConfigException("ttl_s (" + ttlS + ") is too long for port 1");
      }
    }
  }

  private static final Root DEFAULTS = new Root(8470, 60, "127.0.0.1", Priority.NORMAL, new Limits(30_000, 1024),
      List.of(), null);

  @Test
  void aKeyLeftOutOrNullIsTheDefaultBlockByBlock() {
    Root r = ConfigReader.read("{\"port\": 9000, \"host\": null, \"limits\": {\"max_connections\": 8}}", DEFAULTS);
    assertEquals(new Root(9000, 60, "127.0.0.1", Priority.NORMAL, new Limits(30_000, 8), List.of(), null), r);
    assertEquals(Priority.HIGH, ConfigReader.read("{\"priority\": \"high\"}", DEFAULTS).priority());
    assertEquals(5.5, ConfigReader.read("{\"ttl_s\": 5.5}", DEFAULTS).ttlS());
  }

  @Test
  void everyRefusalNamesTheKeyByItsPath() {
    refused("{\"prot\": 1}", "unknown config key 'prot' (known keys: host, limits, port, priority, required, "
        + "tokens, ttl_s)");
    refused("{\"limits\": {\"idle_timeout\": 1}}", "unknown config key 'limits.idle_timeout' (limits takes: "
        + "idle_timeout_ms, max_connections)");
    refused("{\"port\": \"80\"}", "port must be a whole number between 0 and 65535, not \"80\" (a string)");
    refused("{\"port\": 80.5}", "port must be a whole number between 0 and 65535, not 80.5");
    refused("{\"port\": 70000}", "port must be between 0 and 65535, not 70000");
    refused("{\"ttl_s\": \"60\"}", "ttl_s must be a number between 1 and 86400, not \"60\" (a string)");
    refused("{\"ttl_s\": 0.5}", "ttl_s must be between 1 and 86400, not 0.5");
    refused("{\"host\": \"\"}", "host must be a non-empty string, not \"\"");
    refused("{\"host\": 5}", "host must be a non-empty string, not 5");
    refused("{\"required\": \"yes\"}", "required must be true or false, not \"yes\" (a string)");
    refused("{\"priority\": \"urgent\"}", "priority must be one of 'high', 'low', 'normal', not \"urgent\"");
    refused("{\"limits\": 5}", "limits must be an object, not 5");
    refused("{\"limits\": {\"max_connections\": 0}}", "limits.max_connections must be between 1 and 1024, not 0");
    refused("{\"tokens\": {}}", "tokens must be a list of objects, not an object");
    refused("{\"tokens\": [{\"owners\": []}]}", "tokens[0].sha is required: sha256sum of the token");
    refused("{\"tokens\": [{\"sha\": \"abc\"}]}", "tokens[0].sha must be 64 hex digits, not \"abc\"");
    refused("{\"tokens\": [{\"sha\": \"" + "a".repeat(64) + "\", \"owners\": \"x\"}]}",
        "tokens[0].owners must be a list of strings, not \"x\" (a string)");
    refused("{\"port\": 1, \"ttl_s\": 5000}", "ttl_s (5000.0) is too long for port 1");
    refused("[1]", "the config must be an object, not a list");
    refused("{\"tokens\": [null]}", "tokens[0] must not be null");
    refused("{\"tokens\": [{\"sha\": \"" + "a".repeat(64) + "\", \"owners\": [\"a\", null]}]}",
        "tokens[0].owners[1] must not be null");
    refused("{\"port\": 80, \"port \": 81}", "unknown config key 'port '");
    refused("{\"port\": 18446744073709551617}", "port must be");
  }

  /** Found by a hostile probe of the first version: each was accepted, or refused with a Java exception's text. */
  @Test
  void whatAProbeGotPastTheFirstVersionIsRefusedByName() {
    refused("{\"ttl_s\": \"NaN\"}", "ttl_s must be a finite number, not NaN");
    refused("{\"ttl_s\": \"Infinity\"}", "ttl_s must be between 1 and 86400, not Infinity");
    refused("{\"port\": 1, \"port\": 2}", "not JSON: Duplicate field 'port'");
    refused("{\"tokens\": [{\"sha\": \"x\\u001b[31m\"}]}", "tokens[0].sha must be 64 hex digits, not \"x\\u001b[31m\"");
    ConfigException e = assertThrows(ConfigException.class,
        () -> ConfigReader.read("{\"range\": [0, \"-Infinity\"]}", Files.class));
    assertEquals("range[1] must be a finite number, not -Infinity", e.getMessage());
    e = assertThrows(ConfigException.class, () -> ConfigReader.read("{\"state_file\": 5}", Files.class));
    assertEquals("state_file must be a path, not 5", e.getMessage());
    e = assertThrows(ConfigException.class, () -> ConfigReader.read("{\"state_file\": \"\"}", Files.class));
    assertEquals("state_file must be a path, not \"\"", e.getMessage());
    assertEquals(java.nio.file.Path.of("/var/lib/iqa/state:1.jsonl"),
        ConfigReader.read("{\"state_file\": \"/var/lib/iqa/state:1.jsonl\"}", Files.class).stateFile(),
        "a path is its text, not a URI");
    assertEquals("a\\u001bb", new ConfigException("a\u001bb").getMessage(), "a message never carries a control character");
  }

  @Test
  void aConstructorThatFailsOtherwiseIsStillNamed() {
    ConfigException e = assertThrows(ConfigException.class, () -> ConfigReader.read("{}", Strict.class));
    assertTrue(e.getMessage().startsWith("the config cannot be used: java.lang.NullPointerException"), e.getMessage());
  }

  private static void refused(String json, String message) {
    ConfigException e = assertThrows(ConfigException.class, () -> ConfigReader.read(json, DEFAULTS));
    assertEquals(message, e.getMessage().startsWith(message) ? message : e.getMessage());
  }
}
