package io.iqa.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/** Prometheus' own linter ({@code promtool check metrics}, Debian's prometheus package) on metrics text. */
public final class Promtool {

  private Promtool() {
  }

  public static void assertLintClean(String metrics) throws IOException, InterruptedException {
    String promtool = Files.isExecutable(Path.of("/usr/bin/promtool")) ? "/usr/bin/promtool" : "promtool";
    Process p;
    try {
      p = new ProcessBuilder(promtool, "check", "metrics").redirectErrorStream(true).start();
    } catch (IOException e) {
      throw new AssertionError("promtool not found: these tests need it (apt-get install prometheus; scripts/test "
          + "installs it)", e);
    }
    p.getOutputStream().write(metrics.getBytes(StandardCharsets.UTF_8));
    p.getOutputStream().close();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    p.waitFor(30, TimeUnit.SECONDS);
    assertEquals(0, p.exitValue(), "promtool check metrics refused them:\n" + out + "\n--- metrics ---\n" + metrics);
  }
}
