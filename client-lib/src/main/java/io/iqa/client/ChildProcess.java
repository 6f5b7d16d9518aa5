package io.iqa.client;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How this project starts a process that must never outlive its parent nor leave children behind
 * (a command holding a lease, the sidecar's GPU worker): in its own process group ({@code setsid}),
 * with a signal from the kernel when the parent JVM dies, even by SIGKILL ({@code setpriv
 * --pdeathsig}); stopped by SIGTERM to the whole group, SIGKILL after a grace period. Both tools
 * come with util-linux; without them the command runs directly and a WARN says what is lost.
 */
public final class ChildProcess {

  private static final Logger LOG = LoggerFactory.getLogger(ChildProcess.class);
  private static final String SETPRIV = find("setpriv");
  private static final String SETSID = find("setsid");

  private ChildProcess() {
  }

  /**
   * Finds {@code exe} as a shell would: a name with a {@code /} as it is, else the first executable
   * of that name on {@code searchPath} (PATH's form). @return its path, or null when there is none
   */
  public static java.nio.file.Path which(String exe, String searchPath) {
    if (exe.contains("/")) {
      java.nio.file.Path p = java.nio.file.Path.of(exe);
      return java.nio.file.Files.exists(p) ? p : null;
    }
    for (String d : (searchPath == null ? "" : searchPath).split(java.io.File.pathSeparator)) {
      if (d.isEmpty()) {
        continue;
      }
      java.nio.file.Path p = java.nio.file.Path.of(d, exe);
      if (java.nio.file.Files.isRegularFile(p) && java.nio.file.Files.isExecutable(p)) {
        return p;
      }
    }
    return null;
  }

  /**
   * @param deathSignal what the command gets when this JVM dies: {@code KILL}, or {@code TERM} for a
   *     command that must clean up
   * @return {@code command} prefixed so that it runs in its own process group with that parent-death signal
   */
  public static List<String> wrap(List<String> command, String deathSignal) {
    List<String> full = new ArrayList<>();
    if (SETPRIV != null) {
      full.addAll(List.of(SETPRIV, "--pdeathsig", deathSignal, "--"));
    }
    if (SETSID != null) {
      full.addAll(List.of(SETSID, "--"));
    }
    if (SETPRIV == null || SETSID == null) {
      LOG.warn("setpriv/setsid (util-linux) not found: {} runs without its own process group or parent-death "
          + "signal, so its children are not signalled and it would outlive this process if killed", command.get(0));
    }
    full.addAll(command);
    return full;
  }

  /**
   * SIGTERM to {@code p}'s process group, SIGKILL after {@code graceMs}. Returns at once; call it
   * from any thread, as often as needed.
   */
  public static void stop(Process p, long graceMs, String name) {
    if (!p.isAlive()) {
      return;
    }
    signal(p, "TERM");
    Thread killer = new Thread(() -> {
      try {
        if (!p.waitFor(graceMs, TimeUnit.MILLISECONDS)) {
          LOG.warn("{} (pid {}) still running {} ms after SIGTERM; sending SIGKILL", name, p.pid(), graceMs);
          signal(p, "KILL");
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }, "child-process-kill");
    killer.setDaemon(true);
    killer.start();
  }

  /** Sends {@code sig} ({@code TERM}, {@code KILL}) to {@code p}'s process group, or to it and its descendants. */
  public static void signal(Process p, String sig) {
    if (SETSID != null) {
      // setsid made the command a process-group leader: its pid is the group id.
      try {
        Process kill = new ProcessBuilder("kill", "-" + sig, "--", "-" + p.pid())
            .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        kill.waitFor(5, TimeUnit.SECONDS);
        return;
      } catch (IOException e) {
        LOG.debug("kill -{} of group {} failed: {}", sig, p.pid(), e.getMessage());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    p.descendants().forEach(h -> {
      if (sig.equals("KILL")) {
        h.destroyForcibly();
      } else {
        h.destroy();
      }
    });
    if (sig.equals("KILL")) {
      p.destroyForcibly();
    } else {
      p.destroy();
    }
  }

  private static String find(String tool) {
    String path = System.getenv().getOrDefault("PATH", "/usr/bin:/bin");
    for (String dir : (path + ":/usr/bin:/bin").split(File.pathSeparator)) {
      Path p = Path.of(dir, tool);
      if (!dir.isEmpty() && Files.isExecutable(p)) {
        return p.toString();
      }
    }
    return null;
  }
}
