package io.iqa.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine;

/**
 * {@code scripts/bench all}: every benchmark in turn, one after the other on this machine, each with
 * its own defaults (the GPU check's table is the one scripts/gpu-check last wrote: it needs the
 * -Pgpu build), then {@code docs/benchmarks.md}: the machine, each table with its targets, and a
 * summary of what passed and what missed.
 */
@Command(name = "all", description = "Every benchmark in turn, then docs/benchmarks.md from their tables.")
final class AllBench extends BenchCommand {

  @Option(names = "--tables-only", description = "run nothing: write docs/benchmarks.md from the tables already under "
      + "bench/results/") boolean tablesOnly;

  private static final Pattern VERDICT = Pattern.compile("(?m)^\\| (.+?) \\| (.+?) \\| (.+?) \\| (pass|MISS) \\|$");

  /** The benchmarks, in the order they run and appear: the results file each writes, how to run it. */
  private static Map<String, Runnable> plan() {
    Map<String, Runnable> plan = new LinkedHashMap<>();
    plan.put("broker-memory.md", run(new BrokerBench()));
    plan.put("broker-redis.md", run(new BrokerBench(), "--redis"));
    plan.put("models-default.md", run(new ModelsBench()));
    plan.put("photos.md", run(new PhotosBench()));
    plan.put("nima.md", run(new NimaBench()));
    plan.put("sidecar.md", run(new SidecarBench()));
    plan.put("sharing.md", run(new SharingBench()));
    plan.put("client.md", run(new ClientBench()));
    plan.put("serve.md", run(new ServeBench()));
    return plan;
  }

  private static Runnable run(Callable<Integer> bench, String... args) {
    return () -> {
      int code = new CommandLine(bench).execute(args);
      if (code != 0) {
        throw new IllegalStateException("exit code " + code);
      }
    };
  }

  @Override
  public Integer call() throws IOException {
    List<String> failed = new ArrayList<>();
    List<String> sections = new ArrayList<>();
    for (Map.Entry<String, Runnable> step : plan().entrySet()) {
      String file = step.getKey();
      Path result = Path.of("bench", "results", file);
      if (!tablesOnly) {
        Files.deleteIfExists(result);
        System.out.println("== scripts/bench: " + file.replace(".md", ""));
        try {
          step.getValue().run();
        } catch (RuntimeException e) {
          failed.add(file + ": " + e.getMessage());
        }
      }
      if (Files.exists(result)) {
        sections.add(Files.readString(result));
      } else {
        failed.add(file + ": wrote no table");
      }
    }
    // The GPU check needs the -Pgpu build, which only scripts/gpu-check makes: its table is taken as it is.
    Path gpu = Path.of("bench", "results", "gpu.md");
    sections.add(Files.exists(gpu) ? Files.readString(gpu) : "## GPU check\n\nNot measured here: "
        + "`scripts/gpu-check` on a host with an NVIDIA GPU writes bench/results/gpu.md, which the next "
        + "`scripts/bench all` (or `--tables-only`) takes in.\n");
    Path doc = results.out != null ? results.out : Path.of("docs", "benchmarks.md");
    Files.createDirectories(doc.toAbsolutePath().getParent());
    Files.writeString(doc, document(sections, failed));
    System.out.println("written to " + doc + (failed.isEmpty() ? "" : "; did not finish: " + failed));
    return failed.isEmpty() ? 0 : 1;
  }

  private String document(List<String> sections, List<String> failed) {
    StringBuilder pass = new StringBuilder();
    StringBuilder miss = new StringBuilder();
    for (String s : sections) {
      String bench = s.lines().findFirst().orElse("").replaceFirst("^## ", "");
      Matcher m = VERDICT.matcher(s);
      while (m.find()) {
        (m.group(4).equals("pass") ? pass : miss).append("| ").append(bench).append(" | ").append(m.group(1))
            .append(" | ").append(m.group(2)).append(" | ").append(m.group(3)).append(" | ").append(m.group(4))
            .append(" |\n");
      }
    }
    StringBuilder doc = new StringBuilder("# Benchmarks\n\n")
        .append(tablesOnly ? "Written by `scripts/bench all --tables-only` on " + Instant.now() + " from the tables "
            + "under `bench/results/`, each measured when its own 'measured' line says, by its benchmark alone, on one "
            : "Written by `scripts/bench all` on " + Instant.now() + ": every benchmark in turn on one ")
        .append("machine (").append(Runtime.getRuntime().availableProcessors()).append(" cores, ")
        .append(Runtime.getRuntime().maxMemory() >> 20).append(" MiB heap, Java ").append(System.getProperty("java.version"))
        .append(", ").append(System.getProperty("os.name")).append(' ').append(System.getProperty("os.arch"))
        .append("). Ratios are measured within one run; on a small, shared machine absolute figures vary from run to ")
        .append("run by 10-30 %. Each section is the table its benchmark wrote under `bench/results/`; ")
        .append("`scripts/bench NAME --help` says what it measures and how to change its settings.\n\n")
        .append("## Targets\n\nEvery target the tables below state, the missed ones first.\n\n")
        .append("| benchmark | metric | value | target | |\n|---|---|---:|---|---|\n").append(miss).append(pass);
    if (!failed.isEmpty()) {
      doc.append("\nDid not finish: ").append(String.join("; ", failed)).append('\n');
    }
    sections.forEach(s -> doc.append('\n').append(s));
    return doc.toString();
  }
}
