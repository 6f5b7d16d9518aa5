package io.iqa.cli;

import io.iqa.client.IqaClient;
import java.util.concurrent.Callable;
import java.util.function.Function;
import picocli.CommandLine.Command;
import picocli.CommandLine.ParentCommand;

/**
 * {@code iqa sidecar shutdown}, {@code release} and {@code health}. Without a command picocli
 * answers "Missing required subcommand" with the usage, exit code 2.
 */
@Command(name = "sidecar", mixinStandardHelpOptions = true, description = "The IQA sidecar.",
    subcommands = {SidecarCli.Shutdown.class, SidecarCli.Release.class, SidecarCli.Health.class})
final class SidecarCli {

  @ParentCommand IqaMain main;

  /** Asks the sidecar (never the fallback) and prints what {@code answer} makes of its reply. */
  int print(Function<IqaClient, String> answer) {
    try (IqaClient client = main.config().clientBuilder().fallback(null).build()) {
      main.out().println(answer.apply(client));
      return IqaMain.OK;
    }
  }

  @Command(name = "shutdown", mixinStandardHelpOptions = true,
      description = "Drain, stop the worker (freeing VRAM), release the lease, exit.")
  static final class Shutdown implements Callable<Integer> {
    @ParentCommand SidecarCli sidecar;

    @Override
    public Integer call() {
      return sidecar.print(c -> c.sidecar().shutdown().path("message").asText("shutting down"));
    }
  }

  @Command(name = "release", mixinStandardHelpOptions = true,
      description = {"Give the GPU back now: the worker stops (freeing VRAM) and the lease is released.",
          "The sidecar keeps serving cached scores; the next new image takes the GPU again."})
  static final class Release implements Callable<Integer> {
    @ParentCommand SidecarCli sidecar;

    @Override
    public Integer call() {
      return sidecar.print(c -> c.sidecar().releaseGpu().path("message").asText("released"));
    }
  }

  @Command(name = "health", mixinStandardHelpOptions = true, description = "The sidecar's /health.")
  static final class Health implements Callable<Integer> {
    @ParentCommand SidecarCli sidecar;

    @Override
    public Integer call() {
      return sidecar.print(c -> c.sidecar().health().toPrettyString());
    }
  }
}
