package io.iqa.cli;

import io.iqa.broker.LocalBroker;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Vertx;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;

/**
 * Runs {@code iqa} for a test and keeps what it printed: in-process through {@link IqaMain#cli}
 * (the same command line, exit codes and writers as {@code main}), or as its own JVM where the
 * process is what is tested (its working folder, a wrapper such as setpriv).
 */
final class Iqa {

  record Run(int exit, String out, String err, long millis) {
  }

  private Iqa() {
  }

  /** iqa in this JVM, with {@code env} as its environment (the IQA_CLIENT_* overrides). */
  static Run run(Map<String, String> env, String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cli = IqaMain.cli(env);
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    long t0 = System.nanoTime();
    int exit = cli.execute(args);
    return new Run(exit, out.toString(), err.toString(), (System.nanoTime() - t0) / 1_000_000);
  }

  static Run run(String... args) {
    return run(Map.of(), args);
  }

  /** iqa as its own JVM working in {@code dir}, started through {@code prefix} unless it is empty. */
  static Run process(Path dir, List<String> prefix, String... args) throws Exception {
    List<String> cmd = new ArrayList<>(prefix);
    cmd.addAll(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"), IqaMain.class.getName()));
    cmd.addAll(List.of(args));
    Path err = Files.createTempFile(dir, "iqa", ".err");
    ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectError(err.toFile());
    long t0 = System.nanoTime();
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(120, TimeUnit.SECONDS), "iqa did not finish");
    return new Run(p.exitValue(), out, Files.readString(err), (System.nanoTime() - t0) / 1_000_000);
  }

  /** @return the URL of an embedded broker (fresh, one whole-device gpu 0) deployed on {@code vertx} */
  static String startBroker(Vertx vertx) throws Exception {
    return LocalBroker.start(vertx, 1);
  }
}
