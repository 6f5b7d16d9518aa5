package io.iqa.sidecar.service;

import io.iqa.client.ChildProcess;
import io.iqa.sidecar.worker.Frame;
import io.iqa.sidecar.worker.FrameChannel;
import io.iqa.sidecar.worker.WorkerMain;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The front's handle on one GPU worker process ({@link WorkerMain}): started with the lease's
 * environment as a {@link ChildProcess} (its own process group, killed by the kernel if the front
 * dies), connected through a Unix socket in a folder only this user can open, and stopped to free
 * the GPU. Frames from the worker reach {@code onFrame} on the front's event loop; {@link #ready()}
 * completes with its READY frame (fails with FAILED, or when it exits first); {@link #exited()}
 * completes with its exit code (0 after a clean stop). Nothing here blocks the event loop.
 */
final class WorkerProcess {

  private static final Logger LOG = LoggerFactory.getLogger(WorkerProcess.class);
  private static final long KILL_GRACE_MS = 2000;

  private final Vertx vertx;
  private final Context context;
  private final Consumer<Frame> onFrame;
  private final Promise<JsonObject> ready = Promise.promise();
  private final Promise<Integer> exited = Promise.promise();
  private Process process;
  private FrameChannel channel;
  /** The worker said STOPPED: its SIGKILL that follows is the end of a clean stop (exit code 0). */
  private boolean stopped;

  private WorkerProcess(Vertx vertx, Consumer<Frame> onFrame) {
    this.vertx = vertx;
    this.context = vertx.getOrCreateContext();
    this.onFrame = onFrame;
  }

  /**
   * Starts a worker and sends it {@code init}. @param env added to the worker's environment (the
   * lease's GPU, or no GPU at all)
   */
  static WorkerProcess start(Vertx vertx, JsonObject init, Map<String, String> env, List<String> jvmArgs,
      long timeoutMs, Consumer<Frame> onFrame) {
    WorkerProcess w = new WorkerProcess(vertx, onFrame);
    vertx.executeBlocking(() -> {
      w.launch(init, env, jvmArgs, timeoutMs);
      return null;
    }, false).onFailure(e -> {
      w.kill();
      w.ready.tryFail(e);
    });
    vertx.setTimer(timeoutMs, t -> {
      if (w.ready.tryFail("the worker did not load its models within worker.start_timeout_s=" + timeoutMs / 1000)) {
        w.kill();
      }
    });
    return w;
  }

  /** Blocking: launches the process, waits for it to connect, starts the frame reader. */
  private void launch(JsonObject init, Map<String, String> env, List<String> jvmArgs, long timeoutMs)
      throws IOException, InterruptedException {
    Path dir = Files.createTempDirectory("iqa-worker-"); // rwx------: only this user can connect
    Path socket = dir.resolve("s");
    try (FrameChannel.Listener listener = FrameChannel.listen(socket)) {
      List<String> cmd = new ArrayList<>();
      cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
      cmd.addAll(jvmArgs);
      cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), WorkerMain.class.getName(), socket.toString()));
      ProcessBuilder pb = new ProcessBuilder(ChildProcess.wrap(cmd, "KILL"));
      pb.environment().putAll(env);
      // The worker's stdout and stderr both go to the front's log (stderr): stdout is the front's own.
      File err = new File("/proc/self/fd/2");
      pb.redirectOutput(err.exists() ? ProcessBuilder.Redirect.appendTo(err) : ProcessBuilder.Redirect.INHERIT);
      pb.redirectError(ProcessBuilder.Redirect.INHERIT);
      synchronized (this) {
        process = pb.start();
      }
      process.onExit().thenAccept(p -> context.runOnContext(v -> onExit(p.exitValue())));
      LOG.info("worker started (pid {}{})", process.pid(), env.isEmpty() ? "" : ", " + env);
      channel = listener.accept(timeoutMs, process::isAlive, frame -> context.runOnContext(v -> frame(frame)),
          e -> LOG.debug("worker {} socket ended{}", process.pid(), e == null ? "" : ": " + e.getMessage()));
      channel.send(Frame.of(Frame.Type.INIT, init));
    } finally {
      Files.deleteIfExists(socket);
      Files.deleteIfExists(dir);
    }
  }

  private void frame(Frame f) {
    switch (f.type()) {
      case READY -> ready.tryComplete(f.header());
      case FAILED -> ready.tryFail(f.header().getString("message"));
      case STOPPED -> {
        // Its models are closed and its answers sent: end it now rather than wait for the JVM's own exit.
        stopped = true;
        synchronized (this) {
          process.destroyForcibly();
        }
      }
      default -> onFrame.accept(f);
    }
  }

  private void onExit(int code) {
    ready.tryFail("the worker exited with code " + code + " before its models were loaded");
    exited.tryComplete(stopped ? 0 : code);
    if (channel != null) {
      channel.close();
    }
  }

  /** @return the worker's READY header: its models and their fingerprints */
  Future<JsonObject> ready() {
    return ready.future();
  }

  /** @return completes with the worker's exit code once its process is gone */
  Future<Integer> exited() {
    return exited.future();
  }

  synchronized Long pid() {
    return process == null ? null : process.pid();
  }

  void send(Frame f) {
    if (channel != null) {
      channel.send(f);
    }
  }

  /**
   * Asks the worker to stop (running model calls finish, the rest comes back), then kills it if it
   * has not exited within {@code withinMs}. @return completes once the process is gone
   */
  Future<Integer> stop(long withinMs) {
    if (channel == null) {
      kill();
      return exited();
    }
    send(Frame.of(Frame.Type.STOP, new JsonObject()));
    long timer = vertx.setTimer(Math.max(1, withinMs), t -> {
      if (!exited.future().isComplete()) {
        LOG.warn("worker {} still running {} ms after STOP; killing it to free the GPU", pid(), withinMs);
        kill();
      }
    });
    return exited().onComplete(ar -> vertx.cancelTimer(timer));
  }

  /** SIGTERM to the worker's process group, SIGKILL after 2 s. */
  synchronized void kill() {
    if (process != null) {
      ChildProcess.stop(process, KILL_GRACE_MS, "the GPU worker");
    }
  }
}
