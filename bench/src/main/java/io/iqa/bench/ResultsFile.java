package io.iqa.bench;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The option every benchmark has: where its table is written ({@code --out}, else under bench/results/). */
final class ResultsFile {

  @Option(names = "--out", description = "results file (default: bench/results/, named after the benchmark; for "
      + "all: docs/benchmarks.md)")
  Path out;

  /** @return {@code --out}, or {@code bench/results/name} */
  Path or(String name) {
    return out != null ? out : Path.of("bench", "results", name);
  }
}
