package io.iqa.bench;

import picocli.CommandLine.Command;
import picocli.CommandLine;

/** {@code scripts/bench SUBCOMMAND}: each benchmark prints a table and writes it under {@code bench/results/}. */
@Command(name = "bench", mixinStandardHelpOptions = true, subcommands = {BrokerBench.class,
    ModelsBench.class, PhotosBench.class, NimaBench.class, SidecarBench.class, SharingBench.class, GpuBench.class,
    ClientBench.class, ServeBench.class, AllBench.class},
    description = "Project benchmarks. Each prints a markdown table and writes it to bench/results/.")
public final class Bench implements Runnable {

  public static void main(String[] args) {
    System.exit(new CommandLine(new Bench()).execute(args));
  }

  @Override
  public void run() {
    new CommandLine(this).usage(System.out);
  }
}
