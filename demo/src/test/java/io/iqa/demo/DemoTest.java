package io.iqa.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** What {@code scripts/demo} runs first, as its own JVM: every step answers as the contract says, exit 0. */
class DemoTest {

  @Test
  void theBrokerWalkThroughRunsToTheEndAndExitsZero() throws Exception {
    Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
        System.getProperty("java.class.path"), Demo.class.getName()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), out);
    assertEquals(0, p.exitValue(), out);
    assertTrue(out.contains("1. iqa-sidecar holds gpu 0"), out);
    assertTrue(out.contains("3. llm-server waits"), out);
    assertTrue(out.contains("demo finished: every answer matched the v1 contract"), out);
  }
}
