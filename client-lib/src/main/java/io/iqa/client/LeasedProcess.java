package io.iqa.client;

import java.io.IOException;
import java.nio.file.Path;
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
 * <p>With {@link #run(Lease, boolean) stopOnYield}, a yield request on the lease stops the command
 * the same way, and the release says {@code yielded}.
 *
 * <p>The command runs as a {@link ChildProcess}: in its own process group, so the children it
 * started stop with it, and with a parent-death signal, so it never outlives the lease's holder.
 */
public final class LeasedProcess {

  private static final Logger LOG = LoggerFactory.getLogger(LeasedProcess.class);

  /**
   * How the run ended: the command's exit code (128 + signal when a signal ended it).
   *
   * @param loss why the lease was lost while the command ran, or null
   * @param yielded the command was stopped because the broker asked the lease to yield
   */
  public record Result(int exitCode, boolean timedOut, LeaseLoss loss, boolean yielded) {
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
    return run(lease, false);
  }

  /**
   * {@link #run(Lease)}; with {@code stopOnYield} a yield request on {@code lease} stops the command
   * (SIGTERM, SIGKILL after the grace period) and the release says {@code yielded}.
   */
  public Result run(Lease lease, boolean stopOnYield) {
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
    AtomicReference<String> yielded = new AtomicReference<>();
    if (lease != null && stopOnYield) {
      lease.onYieldRequested(why -> {
        yielded.set(why);
        LOG.warn("stopping {} (pid {}) to yield gpu {}: {}", command.get(0), p.pid(), lease.gpu(), why);
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
      return new Result(code, timedOut, lost.get(), yielded.get() != null && lost.get() == null);
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
        lease.close(yielded.get() != null && lost.get() == null ? "yielded" : null);
      }
    }
  }

  /**
   * SIGTERM to the command's process group, SIGKILL after the grace period. Returns at once; call it
   * from any thread, as often as needed.
   */
  public void stop(Process p) {
    ChildProcess.stop(p, graceMs, command.get(0));
  }

  private Process start() {
    List<String> full = ChildProcess.wrap(command, deathSignal);
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
}
