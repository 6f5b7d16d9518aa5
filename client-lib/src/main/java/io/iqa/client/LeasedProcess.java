package io.iqa.client;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs a command that uses the GPU of a {@link Lease}, as {@code flock} runs a command holding a
 * lock: the lease is held while the command runs and released only after it has exited. When the
 * lease is lost (revoked, or its holder's deadline came) the command gets SIGTERM, and SIGKILL
 * after {@code grace}; then the release confirms the revocation, so the broker hands the GPU on
 * only once the command is gone.
 *
 * <p>The command runs in its own process group (through {@code setsid}), and signals go to the
 * whole group, so the children it started stop with it. Through {@code setpriv --pdeathsig} it
 * also gets a signal from the kernel if this JVM dies (even by SIGKILL), so it never outlives the
 * lease's holder. Both tools come with util-linux; without them the command runs directly and a WARN
 * says what is lost.
 */
public final class LeasedProcess {

  private static final Logger LOG = LoggerFactory.getLogger(LeasedProcess.class);
  private static final String SETPRIV = find("setpriv");
  private static final String SETSID = find("setsid");

  /** How the run ended: the command's exit code (128 + signal when a signal ended it). */
  public record Result(int exitCode, boolean timedOut, LeaseLoss loss) {
  }

  private final List<String> command;
  private final Map<String, String> env;
  private final long timeoutMs;
  private final long graceMs;
  private final String deathSignal;
  private final Path stdout;
  private final Path stderr;

  /**
   * @param env variables added to this process's environment
   * @param timeoutMs 0 for none; past it the command is stopped like on a loss
   * @param graceMs how long SIGTERM may take before SIGKILL
   * @param deathSignal what the command gets when this JVM dies: {@code KILL}, or {@code TERM} for a
   *     command that must clean up (docker's client passes TERM on to its container; KILL it cannot)
   * @param stdout a file for the command's output, or null to share this process's
   * @param stderr a file for the command's errors, or null to share this process's
   */
  public LeasedProcess(List<String> command, Map<String, String> env, long timeoutMs, long graceMs,
      String deathSignal, Path stdout, Path stderr) {
    this.command = List.copyOf(command);
    this.env = Map.copyOf(env);
    this.timeoutMs = timeoutMs;
    this.graceMs = graceMs;
    this.deathSignal = deathSignal;
    this.stdout = stdout;
    this.stderr = stderr;
  }

  /**
   * Starts the command, waits for it, and closes {@code lease} (when not null) once it has exited.
   * @throws IqaException when the command cannot start
   */
  public Result run(Lease lease) {
    Process p = start();
    // This JVM asked to stop (SIGTERM, Ctrl-C): stop the command too, and release only once it is gone.
    Thread onExit = new Thread(() -> {
      stop(p);
      try {
        p.waitFor(graceMs + 1000, TimeUnit.MILLISECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      if (lease != null && !p.isAlive()) {
        lease.close();
      }
    }, "leased-process-exit");
    Runtime.getRuntime().addShutdownHook(onExit);
    AtomicReference<LeaseLoss> lost = new AtomicReference<>();
    if (lease != null) {
      lease.onLost(loss -> {
        lost.set(loss);
        LOG.warn("stopping {} (pid {}): {}", command.get(0), p.pid(), loss.message());
        stop(p);
      });
    }
    boolean timedOut = false;
    try {
      if (timeoutMs > 0 && !p.waitFor(timeoutMs, TimeUnit.MILLISECONDS)) {
        timedOut = true;
        LOG.warn("{} (pid {}) ran past its {} ms timeout; stopping it", command.get(0), p.pid(), timeoutMs);
        stop(p);
      }
      int code = p.waitFor();
      return new Result(code, timedOut, lost.get());
    } catch (InterruptedException e) {
      stop(p);
      Thread.currentThread().interrupt();
      throw new IqaException("interrupted while " + command.get(0) + " ran", e);
    } finally {
      if (p.isAlive()) {
        p.destroyForcibly();
      }
      try {
        Runtime.getRuntime().removeShutdownHook(onExit);
      } catch (IllegalStateException shuttingDown) {
        // the hook runs (or ran) and releases
      }
      if (lease != null && !p.isAlive()) {
        lease.close();
      }
    }
  }

  /**
   * SIGTERM to the command's process group, SIGKILL after the grace period. Returns at once; call it
   * from any thread, as often as needed.
   */
  public void stop(Process p) {
    if (!p.isAlive()) {
      return;
    }
    signal(p, "TERM");
    Thread killer = new Thread(() -> {
      try {
        if (!p.waitFor(graceMs, TimeUnit.MILLISECONDS)) {
          LOG.warn("{} (pid {}) still running {} ms after SIGTERM; sending SIGKILL", command.get(0), p.pid(), graceMs);
          signal(p, "KILL");
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }, "leased-process-kill");
    killer.setDaemon(true);
    killer.start();
  }

  private Process start() {
    List<String> full = new ArrayList<>();
    if (SETPRIV != null) {
      full.addAll(List.of(SETPRIV, "--pdeathsig", deathSignal, "--"));
    }
    if (SETSID != null) {
      full.addAll(List.of(SETSID, "--"));
    }
    if (SETPRIV == null || SETSID == null) {
      LOG.warn("setpriv/setsid (util-linux) not found: {} runs without its own process group or parent-death "
          + "signal, so its children are not signalled and it would outlive a killed iqa", command.get(0));
    }
    full.addAll(command);
    ProcessBuilder pb = new ProcessBuilder(full);
    pb.environment().putAll(env);
    pb.redirectInput(ProcessBuilder.Redirect.INHERIT);
    pb.redirectOutput(stdout == null ? ProcessBuilder.Redirect.INHERIT : ProcessBuilder.Redirect.to(stdout.toFile()));
    pb.redirectError(stderr == null ? ProcessBuilder.Redirect.INHERIT : ProcessBuilder.Redirect.to(stderr.toFile()));
    try {
      return pb.start();
    } catch (IOException e) {
      throw new IqaException("cannot start " + command.get(0) + ": " + e.getMessage(), e);
    }
  }

  private static void signal(Process p, String sig) {
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
