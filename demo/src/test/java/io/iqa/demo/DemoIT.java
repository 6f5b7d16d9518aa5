package io.iqa.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The README's first command, {@code scripts/demo}, as a newcomer runs it (after {@code package}, so
 * it finds the jars built): every step of the main job shows in its output, and it exits 0.
 */
class DemoIT {

  @Test
  void theReadmesFirstCommandRunsTheMainJobEndToEnd() throws Exception {
    Path root = Path.of("..").toAbsolutePath().normalize();
    Process p = new ProcessBuilder("bash", root.resolve("scripts/demo").toString()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(180, TimeUnit.SECONDS), out);
    assertEquals(0, p.exitValue(), out);
    // Round 3: the client's log lines ran into the tables ("...no GPU argumentsimage  tech_sharpness").
    for (String line : out.split("\n")) {
      if (line.contains("(INFO ") || line.contains("(WARN ")) {
        assertTrue(line.matches("^\\((INFO|WARN) .*\\)$"), "a log line of its own: " + line);
      }
    }
    String[] steps = out.split("\n== ");
    assertEquals(9, steps.length, "eight steps:\n" + out);
    assertEquals(6, rows(steps[2], "sidecar"), "every sample scored by the sidecar:\n" + steps[2]);
    assertTrue(steps[2].contains("lower is better"), "the scales under the models' names:\n" + steps[2]);
    assertEquals(6, rows(steps[3], "cache"), "the second pass answered from the cache:\n" + steps[3]);
    assertTrue(steps[4].contains("yield_requested") && steps[4].contains("yielded")
        && steps[4].contains("held by llm-server"), "the sidecar yields to the LLM:\n" + steps[4]);
    assertEquals(2, rows(steps[5], "container"), "the fallback scores while the LLM holds the GPU:\n" + steps[5]);
    assertEquals(1, rows(steps[6], "sidecar"), "the sidecar takes the GPU back:\n" + steps[6]);
    assertEquals(2, rows(steps[7], "sidecar"), "the sidecar scores between two completions:\n" + steps[7]);
    assertTrue(steps[7].contains("vLLM woke (the same process)") && steps[7].contains("MiB asleep (verified")
        && Pattern.compile("released\\s+lease \\d+\\s+llm\\s+yielded").matcher(steps[7]).find(),
        "vLLM sleeps for the sidecar, its memory checked, and wakes:\n" + steps[7]);
    assertTrue(steps[8].contains("stopped") && out.strip().endsWith("demo finished"), out);
  }

  /** @return the table rows of a step served by {@code who} */
  private static long rows(String step, String who) {
    Pattern row = Pattern.compile("^scene\\S*\\.(jpg|png)\\s.*\\s" + who + "$");
    return List.of(step.split("\n")).stream().filter(l -> row.matcher(l).matches()).count();
  }
}
