package io.iqa.cli;

import io.iqa.client.ClientConfig;
import io.iqa.client.IqaException;
import io.iqa.client.LocalFileException;
import io.iqa.protocol.Text;
import io.iqa.protocol.config.ConfigException;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;
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
  @Option(names = "--sidecar-url", scope = ScopeType.INHERIT,
      description = "the sidecar (default: the config's sidecar_url, else http://127.0.0.1:8471)") String sidecarUrl;
  @Option(names = "--broker-url", scope = ScopeType.INHERIT,
      description = "the lease broker (default: the config's broker_url, else http://127.0.0.1:8470)") String brokerUrl;
  @Spec CommandSpec spec;
  private Map<String, String> env = System.getenv();

  public static void main(String[] args) {
    // The CLI's own logging setup (stderr, WARN): set before any logger exists.
    if (System.getProperty("logback.configurationFile") == null) {
      System.setProperty("logback.configurationFile", "iqa-logback.xml");
    }
    CommandLine cli = cli(System.getenv());
    cli.setOut(new PrintWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8), true));
    cli.setErr(new PrintWriter(new OutputStreamWriter(System.err, StandardCharsets.UTF_8), true));
    System.exit(cli.execute(args));
  }

  /**
   * The command line with its exit codes: what {@link #main} runs, and what tests run in-process
   * (with their own writers: every command prints to {@link #out()} and {@link #err()}).
   *
   * @param env where the {@code IQA_CLIENT_*} overrides are read
   */
  static CommandLine cli(Map<String, String> env) {
    IqaMain main = new IqaMain();
    main.env = env;
    CommandLine cli = new CommandLine(main).setCaseInsensitiveEnumValuesAllowed(true);
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
    spec.commandLine().usage(err());
    return USAGE;
  }

  /** @return where results go (stdout) */
  PrintWriter out() {
    return spec.commandLine().getOut();
  }

  /** @return where messages and progress go (stderr) */
  PrintWriter err() {
    return spec.commandLine().getErr();
  }

  ClientConfig config() {
    return config(Map.of());
  }

  /** The config file, then the environment, then the command line ({@code commandLine}, and the URLs). */
  ClientConfig config(Map<String, Object> commandLine) {
    Path file = conf;
    if (file == null && java.nio.file.Files.exists(Path.of("conf", "client.json"))) {
      file = Path.of("conf", "client.json");
    }
    Map<String, Object> given = new LinkedHashMap<>(commandLine);
    if (sidecarUrl != null) {
      given.put("sidecar_url", sidecarUrl);
    }
    if (brokerUrl != null) {
      given.put("broker_url", brokerUrl);
    }
    return ClientConfig.load(file, env, given);
  }
}
