package io.iqa.demo;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The demo's "LLM server": {@code iqa gpu run --owner llm-server -- sleep 12}, the lease wrapper
 * any program can run under. It waits for gpu 0; the sidecar, holding it, is asked to yield.
 */
final class Llm {

  private final Process process;

  private Llm(Process process) {
    this.process = process;
  }

  static Llm start(Path root, String brokerUrl, Path logDir) throws IOException {
    List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-jar",
        root.resolve("iqa-cli/target/iqa.jar").toString(), "gpu", "run", "--owner", "llm-server",
        "--purpose", "LLM server (demo)", "--gpu", "0", "--wait-s", "60", "--ttl-s", "30", "--", "sleep", "12");
    ProcessBuilder pb = new ProcessBuilder(cmd).directory(logDir.toFile()).redirectErrorStream(true)
        .redirectOutput(logDir.resolve("llm-server.log").toFile());
    pb.environment().put("GPU_LEASE_URL", brokerUrl);
    return new Llm(pb.start());
  }

  /** @return the exit code of iqa gpu run (the program's own) */
  int await() throws InterruptedException {
    if (!process.waitFor(120, TimeUnit.SECONDS)) {
      process.destroy();
      throw new IllegalStateException("the LLM stand-in did not finish within 120 s");
    }
    return process.exitValue();
  }
}
