package io.iqa.sidecar;

import io.iqa.sidecar.cli.ScoreCommand;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code java -jar iqa-sidecar.jar serve ...} (the service) or {@code score ...} (one-shot). */
@Command(name = "iqa-sidecar", mixinStandardHelpOptions = true, version = "iqa-sidecar 0.1.0",
    subcommands = {ScoreCommand.class, io.iqa.sidecar.cli.ServeCommand.class},
    description = "Image-quality models (NIMA, MUSIQ, ONNX, built-in) loaded once.")
public final class SidecarMain implements Runnable {

  public static void main(String[] args) {
    System.exit(new CommandLine(new SidecarMain()).execute(args));
  }

  @Override
  public void run() {
    new CommandLine(this).usage(System.out);
  }
}
