package io.iqa.cli;

import io.iqa.client.ClientConfig;
import io.iqa.client.IqaException;
import io.iqa.client.LocalFileException;
import io.iqa.protocol.Text;
import io.iqa.protocol.config.ConfigException;
import java.nio.file.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine;

/**
 * {@code iqa}: score images, look at and free GPUs, stop the sidecar. Exit codes: 0 success, 1 some
 * work failed or was refused, 2 bad usage (no such path, bad option), 3 a service did not answer.
 */
@Command(name = "iqa", mixinStandardHelpOptions = true, version = "iqa 0.1.0",
    subcommands = {ScoreCli.class, GpuCli.class, SidecarCli.class},
    description = "Image quality scores and GPU leases from the command line.",
    footer = "%nExit codes: 0 ok, 1 partly failed or refused, 2 bad usage, 3 service unreachable.")
public final class IqaMain implements java.util.concurrent.Callable<Integer> {

  public static final int OK = 0;
  public static final int PARTLY_FAILED = 1;
  public static final int USAGE = 2;
  public static final int UNREACHABLE = 3;

  @Option(names = "--conf", scope = ScopeType.INHERIT,
      description = "client config JSON (default: conf/client.json when present; env IQA_CLIENT_* override)") Path conf;

  public static void main(String[] args) {
    // The CLI's own logging setup (stderr, WARN): set before any logger exists.
    if (System.getProperty("logback.configurationFile") == null) {
      System.setProperty("logback.configurationFile", "iqa-logback.xml");
    }
    System.exit(cli().execute(args));
  }

  /** The command line with its exit codes: what {@link #main} runs, and what tests run in-process. */
  static CommandLine cli() {
    CommandLine cli = new CommandLine(new IqaMain()).setCaseInsensitiveEnumValuesAllowed(true);
    cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
      if (e instanceof ConfigException) {
        cmd.getErr().println("iqa: config error: " + Text.printable(e.getMessage()));
        return USAGE;
      }
      cmd.getErr().println("iqa: " + Text.printable(e.getMessage()));
      return e instanceof IqaException ie && ie.status() == 0 && !(e instanceof LocalFileException)
          ? UNREACHABLE : PARTLY_FAILED;
    });
    return cli;
  }

  /** {@code iqa} without a command: its usage, on stderr, and the usage exit code. */
  @Override
  public Integer call() {
    new CommandLine(this).usage(System.err);
    return USAGE;
  }

  ClientConfig config() {
    Path file = conf;
    if (file == null && java.nio.file.Files.exists(Path.of("conf", "client.json"))) {
      file = Path.of("conf", "client.json");
    }
    return ClientConfig.load(file, System.getenv());
  }
}
