package io.iqa.client;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A command run under a lease and every process it started: what must be gone before the lease is
 * released, and what a stop signals. On Linux the family is the command's process, the members of
 * its process group (it leads its own: {@link ChildProcess}), and every process that carries the
 * run's id in its environment ({@link #MARKER}, inherited by whatever the command starts, also by a
 * child that called {@code setsid} to leave the group). A process that both leaves the group and
 * clears its environment is out of sight (a cgroup would see it; the broker's GPU observer would
 * still report its memory as unleased).
 */
public class ProcessFamily {

  private static final Logger LOG = LoggerFactory.getLogger(ProcessFamily.class);
  /** The environment variable a run's processes carry: its id. */
  public static final String MARKER = "IQA_RUN_ID";
  private static final Path PROC = Path.of("/proc");

  private final Process main;
  private final String runId;
  private final String name;

  /** @param runId the value of {@link #MARKER} the command was started with */
  public ProcessFamily(Process main, String runId, String name) {
    this.main = main;
    this.runId = runId;
    this.name = name;
  }

  /** @return a fresh run id for {@link #MARKER} */
  public static String newRunId() {
    return UUID.randomUUID().toString();
  }

  public Process main() {
    return main;
  }

  /**
   * @return what of the family still runs, to decide when it is gone: its processes ({@link
   *     #processes()}), and whatever else a subclass counts (a container)
   */
  public List<Long> running() {
    return processes();
  }

  /** @return the pids of the family's processes still running (zombies count as gone: their memory is freed) */
  public final List<Long> processes() {
    return new ArrayList<>(scan(false));
  }

  /**
   * @param outsideGroupOnly only the members that left the command's process group (a signal to the
   *     group reaches the others)
   */
  private Set<Long> scan(boolean outsideGroupOnly) {
    Set<Long> pids = new LinkedHashSet<>();
    if (main.isAlive() && !outsideGroupOnly) {
      pids.add(main.pid());
    }
    if (!Files.isDirectory(PROC)) {
      main.descendants().filter(ProcessHandle::isAlive).forEach(h -> pids.add(h.pid()));
      return pids;
    }
    String marker = MARKER + "=" + runId;
    long self = ProcessHandle.current().pid();
    try (DirectoryStream<Path> all = Files.newDirectoryStream(PROC, p -> p.getFileName().toString().matches("\\d+"))) {
      for (Path dir : all) {
        long pid = Long.parseLong(dir.getFileName().toString());
        if (pid == self || pids.contains(pid)) {
          continue;
        }
        String stat = read(dir.resolve("stat"));
        if (stat == null) {
          continue;
        }
        String[] rest = afterName(stat);
        if (rest.length < 3 || rest[0].equals("Z") || rest[0].equals("X")) {
          continue;
        }
        boolean inGroup = Long.parseLong(rest[2]) == main.pid();
        if (inGroup ? !outsideGroupOnly : carries(dir.resolve("environ"), marker)) {
          pids.add(pid);
        }
      }
    } catch (IOException | RuntimeException e) {
      LOG.debug("cannot read /proc to find the processes of {}: {}", name, e.toString());
    }
    return pids;
  }

  /** @return whether any process of the family runs */
  public boolean alive() {
    return !running().isEmpty();
  }

  /** Sends {@code sig} ({@code TERM}, {@code KILL}) to the command's process group and to every member found. */
  public void signal(String sig) {
    // Found first, signalled once each: a process a member starts to clean up after this signal (a
    // trap's sleep) is not cut short by it.
    Set<Long> escaped = scan(true);
    ChildProcess.signal(main, sig); // the group, even when its leader has exited
    for (long pid : escaped) {
      if (pid > 1 && pid != main.pid()) {
        kill(sig, Long.toString(pid));
      }
    }
  }

  /** @return the family for a log line: {@code pid 12 (sh), pid 14 (server)} */
  public String describe(List<Long> pids) {
    List<String> parts = new ArrayList<>();
    for (long pid : pids) {
      String cmd = ProcessHandle.of(pid).flatMap(h -> h.info().command()).map(c -> c.substring(c.lastIndexOf('/') + 1))
          .orElse("?");
      parts.add("pid " + pid + " (" + cmd + ")");
    }
    return String.join(", ", parts);
  }

  static void kill(String sig, String target) {
    try {
      new ProcessBuilder("kill", "-" + sig, "--", target).redirectErrorStream(true)
          .redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor();
    } catch (IOException e) {
      LOG.debug("kill -{} {} failed: {}", sig, target, e.getMessage());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** The fields after {@code (comm)}, which may hold spaces and parentheses: state first, then ppid, pgrp. */
  private static String[] afterName(String stat) {
    int close = stat.lastIndexOf(')');
    return close < 0 || close + 2 > stat.length() ? new String[0] : stat.substring(close + 2).split(" ");
  }

  private static boolean carries(Path environ, String marker) {
    try {
      byte[] bytes = Files.readAllBytes(environ);
      String env = new String(bytes, StandardCharsets.UTF_8);
      return env.startsWith(marker + "\0") || env.contains("\0" + marker + "\0") || env.equals(marker)
          || env.endsWith("\0" + marker);
    } catch (IOException | RuntimeException e) {
      return false; // another user's process, or gone
    }
  }

  private static String read(Path p) {
    try {
      return Files.readString(p);
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }
}
