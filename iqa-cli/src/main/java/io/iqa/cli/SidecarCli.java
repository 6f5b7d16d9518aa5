package io.iqa.cli;

import io.iqa.client.IqaClient;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.ParentCommand;

/** {@code iqa sidecar shutdown}, {@code release} and {@code health}. */
@Command(name = "sidecar", mixinStandardHelpOptions = true, description = "The IQA sidecar.",
    subcommands = {SidecarCli.Shutdown.class, SidecarCli.Release.class, SidecarCli.Health.class})
final class SidecarCli implements java.util.concurrent.Callable<Integer> {

  @ParentCommand
  IqaMain main;

  /** {@code iqa sidecar} without a command: its usage, and the usage exit code. */
  @Override
  public Integer call() {
    new picocli.CommandLine(this).usage(System.err);
    return IqaMain.USAGE;
  }

  @Command(name = "shutdown", mixinStandardHelpOptions = true,
      description = "Drain, stop the worker (freeing VRAM), release the lease, exit.")
  static final class Shutdown implements Callable<Integer> {
    @ParentCommand
    SidecarCli sidecar;

    @Override
    public Integer call() {
      try (IqaClient client = sidecar.main.config().clientBuilder().fallback(null).build()) {
        System.out.println(client.shutdownSidecar().path("message").asText("shutting down"));
        return IqaMain.OK;
      }
    }
  }

  @Command(name = "release", mixinStandardHelpOptions = true,
      description = {"Give the GPU back now: the worker stops (freeing VRAM) and the lease is released.",
          "The sidecar keeps serving cached scores; the next new image takes the GPU again."})
  static final class Release implements Callable<Integer> {
    @ParentCommand
    SidecarCli sidecar;

    @Override
    public Integer call() {
      try (IqaClient client = sidecar.main.config().clientBuilder().fallback(null).build()) {
        System.out.println(client.releaseSidecarGpu().path("message").asText("released"));
        return IqaMain.OK;
      }
    }
  }

  @Command(name = "health", mixinStandardHelpOptions = true, description = "The sidecar's /health.")
  static final class Health implements Callable<Integer> {
    @ParentCommand
    SidecarCli sidecar;

    @Override
    public Integer call() {
      try (IqaClient client = sidecar.main.config().clientBuilder().fallback(null).build()) {
        System.out.println(client.sidecarHealth().toPrettyString());
        return IqaMain.OK;
      }
    }
  }
}
