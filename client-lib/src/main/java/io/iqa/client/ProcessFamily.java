package io.iqa.client;

import io.iqa.protocol.Procs;
import java.io.IOException;
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
    if (!Procs.available()) {
      main.descendants().filter(ProcessHandle::isAlive).forEach(h -> pids.add(h.pid()));
      return pids;
    }
    long self = ProcessHandle.current().pid();
    for (long pid : Procs.pids()) {
      if (pid == self || pids.contains(pid)) {
        continue;
      }
      Procs.Stat stat = Procs.stat(pid).orElse(null);
      if (stat == null || !stat.running()) {
        continue;
      }
      boolean inGroup = stat.pgrp() == main.pid();
      if (inGroup ? !outsideGroupOnly : runId.equals(Procs.env(pid, MARKER))) {
        pids.add(pid);
      }
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
}
