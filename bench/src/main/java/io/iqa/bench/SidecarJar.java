package io.iqa.bench;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/** {@code --jar}: the sidecar build a benchmark runs as its own process (this build's, unless told another). */
final class SidecarJar {

  @Option(names = "--jar", defaultValue = "sidecar/target/iqa-sidecar.jar",
      description = "the sidecar build the benchmark runs (its score command and its service)") Path jar;
}
