package io.iqa.protocol;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The processes of this host as Linux's {@code /proc} shows them (proc(5)): the one reader of
 * {@code /proc/PID/stat} and {@code /proc/PID/environ} for the broker (is a holder still the process
 * that took its lease, does a process carry a lease id) and the client (the processes a command
 * under a lease started). Everything answers "nothing" where {@code /proc} is absent or a file
 * cannot be read (another user's process, or one that just exited).
 */
public final class Procs {

  private static final Path PROC = Path.of("/proc");

  private Procs() {
  }

  /**
   * What this project reads of {@code /proc/PID/stat}.
   * @param state the state letter ({@code R}, {@code S}, {@code Z} ...)
   * @param startTicks when the process started, in clock ticks since boot: with the pid and the boot
   *     id, an identity no pid reuse and no clock step can fake
   */
  public record Stat(char state, long ppid, long pgrp, long startTicks) {
    /** @return whether it runs: a zombie (exited, not yet reaped) has freed its memory already */
    public boolean running() {
      return state != 'Z' && state != 'X';
    }
  }

  /** @return whether this host has a {@code /proc} to read */
  public static boolean available() {
    return Files.isDirectory(PROC);
  }

  /** @return the pids of every process now (empty without {@code /proc}) */
  public static List<Long> pids() {
    List<Long> pids = new ArrayList<>();
    try (DirectoryStream<Path> all = Files.newDirectoryStream(PROC, p -> p.getFileName().toString().matches("\\d{1,18}"))) {
      for (Path dir : all) {
        pids.add(Long.parseLong(dir.getFileName().toString()));
      }
    } catch (IOException | RuntimeException e) {
      // no /proc: no process to look at
    }
    return pids;
  }

  /** @return the process's stat, or empty when there is no such process */
  public static Optional<Stat> stat(long pid) {
    try {
      return Optional.of(parseStat(Files.readString(PROC.resolve(Long.toString(pid)).resolve("stat"))));
    } catch (IOException | RuntimeException e) {
      return Optional.empty();
    }
  }

  /** @return whether the process runs (exists and is no zombie) */
  public static boolean running(long pid) {
    return stat(pid).map(Stat::running).orElse(false);
  }

  /**
   * Reads a {@code /proc/PID/stat} line. The command name comes in parentheses and may hold spaces
   * and parentheses itself, so the fields are counted after the last {@code )}: state is the 3rd
   * field, ppid the 4th, pgrp the 5th, starttime the 22nd.
   * @throws IllegalArgumentException when it is not such a line
   */
  public static Stat parseStat(String stat) {
    int close = stat.lastIndexOf(')');
    if (close < 0 || close + 2 >= stat.length()) {
      throw new IllegalArgumentException("not a /proc/PID/stat line");
    }
    String[] rest = stat.substring(close + 2).trim().split(" ");
    if (rest.length < 20 || rest[0].isEmpty()) {
      throw new IllegalArgumentException("a /proc/PID/stat line with " + rest.length + " fields after the name");
    }
    return new Stat(rest[0].charAt(0), Long.parseLong(rest[1]), Long.parseLong(rest[2]), Long.parseLong(rest[19]));
  }

  /**
   * @return the value of variable {@code name} in the environment the process started with, or null
   *     when it has none (or its environment cannot be read: another user's process, or gone)
   */
  public static String env(long pid, String name) {
    try {
      String env = new String(Files.readAllBytes(PROC.resolve(Long.toString(pid)).resolve("environ")),
          StandardCharsets.UTF_8);
      String prefix = name + "=";
      for (String var : env.split("\0")) {
        if (var.startsWith(prefix)) {
          return var.substring(prefix.length());
        }
      }
    } catch (IOException | RuntimeException e) {
      // nothing this process may read
    }
    return null;
  }

  /**
   * @return the process's whole command line, arguments joined by spaces (the JDK's
   *     {@code ProcessHandle.Info} cuts it at 4 KiB: a java command with a long class path loses its
   *     main class), or empty when it cannot be read
   */
  public static String commandLine(long pid) {
    try {
      byte[] raw = Files.readAllBytes(PROC.resolve(Long.toString(pid)).resolve("cmdline"));
      return new String(raw, StandardCharsets.UTF_8).replace('\0', ' ').trim();
    } catch (IOException | RuntimeException e) {
      return "";
    }
  }

  /** @return this host's boot id (a new one each boot), or null without {@code /proc} */
  public static String bootId() {
    try {
      return Files.readString(PROC.resolve("sys/kernel/random/boot_id")).trim();
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }
}
