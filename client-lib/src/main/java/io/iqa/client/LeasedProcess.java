package io.iqa.client;

import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs a command that uses the GPU of a {@link Lease}, as {@code flock} runs a command holding a
 * lock: the lease is held while the command and every process it started run ({@link
 * ProcessFamily}), and released only once they are all gone. When the lease is lost (revoked, or its
 * holder's deadline came), on a yield request ({@link #run(Lease, boolean) stopOnYield}), past the
 * timeout, or when this JVM is asked to stop, the whole family gets SIGTERM, and SIGKILL after
 * {@code grace}; then the release confirms the revocation, so the broker hands the GPU on only once
 * none of it runs. A command that exits while processes it started run on (a server put in the
 * background) keeps the lease until they exit too.
 *
 * <p>The rules are {@link HeldProcessRules}; this class is their edge: one queue of events (the
 * start, the lease's loss or yield request, the command's exit, the family found gone, timers),
 * handled in order on the calling thread. The command runs as a {@link ChildProcess}: its own process
 * group and a parent-death signal.
 */
public record LeasedProcess(List<String> command, Map<String, String> env, long timeoutMs, long graceMs,
    String deathSignal, Path stdout, Path stderr, LeasedProcess.Families families) {

  private static final Logger LOG = LoggerFactory.getLogger(LeasedProcess.class);

  /**
   * How the run ended: the command's exit code (128 + signal when a signal ended it).
   *
   * @param loss why the lease was lost while the command ran, or null
   * @param yielded the command was stopped because the broker asked the lease to yield
   * @param goneNanos when the command's whole family was seen gone ({@link System#nanoTime()}): the end of
   *     its GPU use, before the release
   */
  public record Result(int exitCode, boolean timedOut, LeaseLoss loss, boolean yielded, long goneNanos) {
  }

  /** Makes the family of a started command (its processes; a container it started). */
  public interface Families {
    ProcessFamily of(Process main, String runId, String name);
  }

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
    this(command, env, timeoutMs, graceMs, deathSignal, stdout, stderr, ProcessFamily::new);
  }

  /** {@code families}: what makes up a started command's family (a container fallback adds its container). */
  public LeasedProcess {
    command = List.copyOf(command);
    env = Map.copyOf(env);
  }

  /**
   * Starts the command, waits for it and its family, and closes {@code lease} (when not null) once
   * they are gone; a command that cannot start releases the lease too.
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
    String name = command.get(0);
    HeldProcessRules rules = new HeldProcessRules(graceMs * 1_000_000L);
    BlockingQueue<HeldProcessRules.Event> events = new LinkedBlockingQueue<>();
    String runId = ProcessFamily.newRunId();
    if (lease != null) {
      // Told before it is read: a renew in between comes after it in the queue.
      lease.onDeadline(stopBy -> events.add(new HeldProcessRules.Deadline(System.nanoTime(), stopBy)));
      rules.handle(new HeldProcessRules.Deadline(System.nanoTime(), lease.stopByNanos()));
    }
    for (HeldProcessRules.Action a : rules.handle(new HeldProcessRules.Launch(System.nanoTime()))) {
      if (a instanceof HeldProcessRules.Finish f) {
        // The lease's time was up before the command could start (a grant that came back late): no
        // process may use the GPU under it, so none is started.
        LeaseLoss loss = lease == null ? null : lease.loss();
        if (lease != null) {
          lease.close();
        }
        throw new IqaException(name + " not started: " + f.failedToStart()
            + (loss != null ? " (" + loss.message() + ")" : ""));
      }
    }
    Process p;
    try {
      p = start(runId);
    } catch (RuntimeException e) {
      // Whatever stopped the start (not only an IOException), nobody holds the GPU: the lease goes back.
      rules.handle(new HeldProcessRules.StartFailed(System.nanoTime(), String.valueOf(e.getMessage())));
      if (lease != null) {
        lease.close();
      }
      throw e instanceof IqaException ie ? ie : new IqaException("cannot start " + name + ": " + e, e);
    }
    ProcessFamily family = families.of(p, runId, name);
    HeldProcessLoop edge = new HeldProcessLoop(rules, events, family, lease, name, timeoutMs);
    events.add(new HeldProcessRules.Started(System.nanoTime(), p.pid()));
    p.onExit().thenRun(() -> events.add(new HeldProcessRules.Tick(System.nanoTime())));
    // This JVM asked to stop (SIGTERM, Ctrl-C): stop the command too, and release only once it is gone.
    Thread onExit = new Thread(() -> {
      events.add(new HeldProcessRules.Stop(System.nanoTime(), HeldProcessRules.Cause.SIGNAL, "this process is stopping"));
      try {
        edge.done.await(graceMs + 2000, TimeUnit.MILLISECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }, "leased-process-exit");
    Runtime.getRuntime().addShutdownHook(onExit);
    if (lease != null) {
      lease.onLost(loss -> {
        edge.loss = loss;
        events.add(new HeldProcessRules.Stop(System.nanoTime(), HeldProcessRules.Cause.LOST, loss.message()));
      });
      if (stopOnYield) {
        lease.onYieldRequested(why -> events.add(new HeldProcessRules.Stop(System.nanoTime(),
            HeldProcessRules.Cause.YIELD, "to yield gpu " + lease.gpu() + ": " + why)));
      }
    }
    try {
      return edge.loop(timeoutMs > 0 ? System.nanoTime() + timeoutMs * 1_000_000L : Long.MAX_VALUE);
    } finally {
      try {
        Runtime.getRuntime().removeShutdownHook(onExit);
      } catch (IllegalStateException shuttingDown) {
        // the hook runs (or ran) and waits for the loop, which is done
      }
    }
  }

  private Process start(String runId) {
    List<String> full = ChildProcess.wrap(command, deathSignal);
    ProcessBuilder pb = new ProcessBuilder(full);
    Map<String, String> all = new HashMap<>(env);
    all.put(ProcessFamily.MARKER, runId);
    pb.environment().putAll(all);
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
