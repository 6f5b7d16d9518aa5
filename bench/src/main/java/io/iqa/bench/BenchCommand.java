package io.iqa.bench;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import java.util.concurrent.Callable;
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
}
