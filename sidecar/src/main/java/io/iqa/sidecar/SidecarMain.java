package io.iqa.sidecar;

import io.iqa.client.IqaException;
import io.iqa.protocol.Text;
import io.iqa.protocol.config.ConfigException;
import io.iqa.sidecar.cli.ScoreCommand;
import io.iqa.sidecar.cli.ServeCommand;
import picocli.CommandLine.Command;
import picocli.CommandLine;

/** {@code java -jar iqa-sidecar.jar serve ...} (the service) or {@code score ...} (one-shot). */
@Command(name = "iqa-sidecar", mixinStandardHelpOptions = true, version = "iqa-sidecar 0.1.0",
    subcommands = {ScoreCommand.class, ServeCommand.class},
    description = "Image-quality models (NIMA, MUSIQ, ONNX, built-in) loaded once.")
public final class SidecarMain implements Runnable {

  public static void main(String[] args) {
    io.iqa.sidecar.model.NativeRuntimes.skipAbsentGpuBuilds();
    System.exit(cli().execute(args));
  }

  /** The command line: a config mistake exits 2, a broker that cannot be reached or refuses the lease 3. */
  static CommandLine cli() {
    return new CommandLine(new SidecarMain()).setExecutionExceptionHandler((e, cmd, parsed) -> {
      if (!(e instanceof ConfigException) && !(e instanceof IqaException)) {
        throw e;
      }
      cmd.getErr().println(cmd.getCommandName() + ": " + Text.printable(e.getMessage()));
      return e instanceof ConfigException ? 2 : 3;
    });
  }

  @Override
  public void run() {
    new CommandLine(this).usage(System.out);
  }
}
