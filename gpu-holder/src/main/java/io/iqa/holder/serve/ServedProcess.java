package io.iqa.holder.serve;

import io.iqa.client.ChildProcess;
import io.iqa.client.ProcessFamily;
import io.iqa.protocol.Text;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import java.io.IOException;
import java.util.HashMap;
import java.util.Map;
import java.util.function.IntConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The model server's process when the front starts it ({@code command}): on the leased GPU only,
 * its family (its process group and every process carrying its run's id) stopped by signals, and
 * gone only once every process of it has exited. Runs on the front's event loop.
 */
final class ServedProcess {

  private static final Logger LOG = LoggerFactory.getLogger(ServedProcess.class);

  private final Vertx vertx;
  private final ServeOptions options;
  private final Map<String, String> adapterEnv;
  private final IntConsumer onExit;
  /** The process the front started (null: none, or the server is run by someone else). */
  private Process process;
  private ProcessFamily family;
  private Integer gpu;

  /** @param onExit told the exit code when the process exits (after what it left behind is killed) */
  ServedProcess(Vertx vertx, ServeOptions options, Map<String, String> adapterEnv, IntConsumer onExit) {
    this.vertx = vertx;
    this.options = options;
    this.adapterEnv = adapterEnv;
    this.onExit = onExit;
  }

  /** @return whether the front started a process that has not exited yet (it may be dying) */
  boolean ours() {
    return process != null;
  }

  boolean alive() {
    return process != null && process.isAlive();
  }

  /** @return the GPU the process was started on, or null */
  Integer gpu() {
    return gpu;
  }

  /** @return the process now (null: none), to check later whether that one exited */
  Process current() {
    return process;
  }

  /** Starts {@code command} (none: nothing to start) on {@code gpu} with {@code leaseEnv}. */
  Future<Void> start(Map<String, String> leaseEnv, Integer gpu) {
    if (options.command().isEmpty()) {
      return Future.succeededFuture();
    }
    Map<String, String> env = new HashMap<>(adapterEnv);
    env.putAll(leaseEnv);
    String runId = ProcessFamily.newRunId();
    env.put(ProcessFamily.MARKER, runId);
    ProcessBuilder pb = new ProcessBuilder(ChildProcess.wrap(options.command(), "TERM")).inheritIO();
    pb.environment().putAll(env);
    try {
      Process p = pb.start();
      process = p;
      family = new ProcessFamily(p, runId, options.name());
      this.gpu = gpu;
      LOG.info("started {} (pid {}) on gpu {}: {}", options.name(), p.pid(), gpu,
          Text.printable(String.join(" ", options.command())));
      p.onExit().thenRun(() -> vertx.runOnContext(v -> exited(p)));
      return Future.succeededFuture();
    } catch (IOException e) {
      return Future.failedFuture("could not start " + options.command().get(0) + ": " + e.getMessage());
    }
  }

  /** Signals the running process: its whole family SIGKILL ({@code kill}), else SIGTERM then SIGKILL after the grace. */
  void signal(boolean kill, String why) {
    LOG.info("stopping {} (pid {}): {}", options.name(), process.pid(), why);
    if (kill) {
      family.signal("KILL");
    } else {
      ChildProcess.stop(process, options.graceMs(), options.name());
    }
  }

  /** What the process left behind (an engine's child) is killed, before the GPU is called free. */
  void killLeftovers() {
    if (family != null && family.alive()) {
      family.signal("KILL");
    }
  }

  /** Completes once no process of the family is left (at most 30 s). */
  Future<Void> familyGone() {
    ProcessFamily f = family;
    return Adapter.poll(vertx, 30_000, "process of " + options.name() + " to be left", () -> Future.succeededFuture(
        f == null || !f.alive())).otherwise(e -> null).map(v -> {
          if (f == family) {
            family = null;
          }
          return null;
        });
  }

  /** Stops the process (at the front's shutdown), whatever it does; completes once it has exited. */
  Future<Void> stop(long graceMs) {
    Process p = process;
    if (p == null || !p.isAlive()) {
      return Future.succeededFuture();
    }
    Promise<Void> done = Promise.promise();
    p.onExit().thenRun(() -> vertx.runOnContext(v -> done.tryComplete()));
    ChildProcess.stop(p, graceMs, options.name());
    return done.future();
  }

  private void exited(Process p) {
    if (p != process) {
      return;
    }
    int code = p.exitValue();
    LOG.info("{} (pid {}) exited with code {}", options.name(), p.pid(), code);
    process = null;
    gpu = null;
    killLeftovers();
    onExit.accept(code);
  }
}
