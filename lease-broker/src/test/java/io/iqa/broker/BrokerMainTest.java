package io.iqa.broker;

import io.iqa.testkit.BrokerProcess;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The launcher as an operator runs it: a separate JVM, a config file, SIGTERM to stop. */
class BrokerMainTest {

  private static final Pattern LISTENING = Pattern.compile("listening on http://127\\.0\\.0\\.1:(\\d+)");

  @Test
  void startsFromAConfigFileServesAndStopsOnSigterm(@TempDir Path dir) throws Exception {
    Path conf = dir.resolve("broker.json");
    Files.writeString(conf, "{\"gpus\": [{\"index\": 0, \"vram_mb\": 1000}], \"stale_max_age_s\": 60}");
    Process broker = launch("--conf", conf.toString(), "--port", "0");
    try {
      BufferedReader out = new BufferedReader(new InputStreamReader(broker.getInputStream(), StandardCharsets.UTF_8));
      String line = out.readLine();
      assertNotNull(line, "broker printed nothing");
      Matcher m = LISTENING.matcher(line);
      assertTrue(m.find(), "unexpected first line: " + line);
      String status = HttpClient.newHttpClient().send(
          HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + m.group(1) + "/v1/gpu/status")).build(),
          HttpResponse.BodyHandlers.ofString()).body();
      assertTrue(status.contains("\"stale_max_age_s\":60.0") && status.contains("\"vram_mb\":1000"), status);
      broker.destroy(); // SIGTERM
      assertTrue(broker.waitFor(20, TimeUnit.SECONDS), "broker did not stop on SIGTERM");
    } finally {
      broker.destroyForcibly();
    }
  }

  @Test
  void aBadConfigExitsWith2AndSaysWhy(@TempDir Path dir) throws Exception {
    Path conf = dir.resolve("broker.json");
    Files.writeString(conf, "{\"ttl\": 5}");
    Process broker = launch("--conf", conf.toString());
    assertTrue(broker.waitFor(30, TimeUnit.SECONDS));
    String err = new String(broker.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
    assertEquals(2, broker.exitValue(), err);
    assertTrue(err.contains("unknown config key 'ttl'"), err);
  }

  private static Process launch(String... args) throws Exception {
    return BrokerProcess.launch(java.util.Map.of(), args);
  }
}
