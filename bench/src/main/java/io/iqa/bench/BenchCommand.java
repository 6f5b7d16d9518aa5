package io.iqa.bench;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import io.vertx.core.Vertx;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/**
 * What every benchmark is: a subcommand of {@code scripts/bench} that prints a markdown table and
 * writes it to its results file ({@code --out}, else under {@code bench/results/}).
 */
@Command(mixinStandardHelpOptions = true, showDefaultValues = true)
abstract class BenchCommand implements Callable<Integer> {

  @Mixin ResultsFile results;

  /** Keeps the project's own log lines below {@code level} out of the table's way. */
  static void quietLogs(Level level) {
    ((Logger) LoggerFactory.getLogger("io.iqa")).setLevel(level);
  }

  /** A benchmark's body, given a Vert.x of its own and a scratch folder. */
  interface Body {
    Integer run(Vertx vertx, Path work) throws Exception;
  }

  /** Runs {@code body} with a fresh Vert.x (closed after it) and a new folder {@code bench-<name>...} in /tmp. */
  static Integer withVertx(String name, Body body) throws Exception {
    Vertx vertx = Vertx.vertx();
    Path work = Files.createTempDirectory("bench-" + name);
    try {
      return body.run(vertx, work);
    } finally {
      vertx.close().await(60, TimeUnit.SECONDS);
    }
  }
}
