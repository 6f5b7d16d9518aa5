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
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The front's handle on one GPU worker process ({@link WorkerMain}): started with the lease's
 * environment as a {@link ChildProcess} (its own process group, killed by the kernel if the front
 * dies), talked to over its stdin and stdout (frames; its stderr goes to the front's log), and
 * stopped to free the GPU. Frames from the worker reach {@code onFrame} on the front's event loop; {@link #ready()}
 * completes with its READY frame (fails with FAILED, or when it exits first); {@link #exited()}
 * completes once, with its exit code (0 after a clean stop, -1 when it could not be started at all:
 * {@link #goneWhy()} says why). A kill asked for before the process exists is carried out the moment
 * it does, so a stop that races a launch never leaves a worker behind. Nothing here blocks the event loop.
 * A worker whose models did not load fails {@link #ready()} with {@link ModelsFailed}.
 */
final class WorkerProcess {

  private static final Logger LOG = LoggerFactory.getLogger(WorkerProcess.class);

  private final Vertx vertx;
  private final Context context;
  private final Consumer<Frame> onFrame;
  private final Promise<JsonObject> ready = Promise.promise();
  private final Promise<Integer> exited = Promise.promise();
  private Process process;
  private FrameChannel channel;
  /** INIT has gone out (after the worker's first frame): later frames follow it. */
  private boolean connected;
  private JsonObject init;
  private byte[] warmupImage;
  /** The worker said STOPPED: its SIGKILL that follows is the end of a clean stop (exit code 0). */
  private boolean stopped;
  private boolean killRequested;
  private volatile String goneWhy;
  /** The time the worker must stop by on its own (nanoTime), or null without a lease. */
  private Long stopBy;
  private volatile long lastHeardNanos = System.nanoTime();
  private long killTimer = -1;
  private long killAt = Long.MAX_VALUE;
  private final Path archiveAtExit;
  private boolean usesArchive;
  private long launchedNanos;
  private volatile long connectedNanos;
  private volatile Path tmpDir;

  private WorkerProcess(Vertx vertx, Consumer<Frame> onFrame, Long stopBy, Path archiveAtExit) {
    this.archiveAtExit = archiveAtExit;
    this.vertx = vertx;
    this.context = vertx.getOrCreateContext();
    this.onFrame = onFrame;
    this.stopBy = stopBy;
  }

  /**
   * Starts a worker and sends it {@code init}. @param env added to the worker's environment (the
   * lease's GPU, or no GPU at all) @param stopBy under a lease, the time it must stop by on its own
   */
  static WorkerProcess start(Vertx vertx, WorkerLaunch launch, Long stopBy, Consumer<Frame> onFrame) {
    WorkerProcess w = new WorkerProcess(vertx, onFrame, stopBy, launch.archiveAtExit());
    long timeoutMs = launch.timeoutMs();
    vertx.executeBlocking(() -> {
      w.launch(launch);
      return null;
    }, false).onFailure(e -> {
      w.launchFailed(e); // first: a worker that never started is gone, not a model that failed to load
      w.ready.tryFail(e);
      w.kill();
    });
    vertx.setTimer(timeoutMs, t -> {
      if (w.ready.tryFail(new ModelsFailed("the worker did not load its models within worker.start_timeout_s="
          + timeoutMs / 1000))) {
        w.kill();
      }
    });
    return w;
  }

  /**
   * Blocking: launches the process and starts its frame reader. INIT goes out when the worker's
   * first frame (its heartbeat) says it reads its stdin, with the lease's deadline as it is then:
   * queued at launch, it would carry the deadline of the launch, stale by the JVM's start, and
   * the worker could read it and kill itself before reading the newer ones behind it.
   */
  private void launch(WorkerLaunch launch) throws IOException {
    Map<String, String> env = launch.env();
    usesArchive = launch.usesArchive();
    tmpDir = io.iqa.client.TempDirs.create(WorkerLaunch.TMP_PREFIX);
    ProcessBuilder pb = launch.processBuilder(tmpDir);
    launchedNanos = System.nanoTime();
    Process p = pb.start();
    boolean killNow;
    synchronized (this) {
      process = p;
      killNow = killRequested;
    }
    p.onExit().thenAccept(x -> context.runOnContext(v -> onExit(x.exitValue())));
    if (killNow) {
      LOG.info("worker (pid {}) was asked to stop while it started: killing it now", p.pid());
      ChildProcess.signal(p, "KILL");
      return;
    }
    LOG.info("{} started (pid {}{})", archiveAtExit != null ? "training worker" : "worker", p.pid(),
        env.isEmpty() ? "" : ", " + env);
    FrameChannel ch = FrameChannel.of(p, frame -> {
      lastHeardNanos = System.nanoTime();
      if (connectedNanos == 0) {
        connectedNanos = lastHeardNanos; // its first frame (a heartbeat) comes the moment it reads its stdin
        sendInit();
      }
      context.runOnContext(v -> frame(frame));
    }, stray -> LOG.warn("worker {} wrote to its stdout: {}", p.pid(), stray),
        e -> LOG.debug("worker {} streams ended{}", p.pid(), e == null ? "" : ": " + e.getMessage()));
    synchronized (this) {
      init = launch.init();
      warmupImage = launch.warmupImage().get();
      channel = ch;
      lastHeardNanos = System.nanoTime();
      if (killRequested) {
        ChildProcess.signal(p, "KILL");
      }
    }
    sendInit();
  }

  /** Once the worker has sent its first frame and the channel is set up: INIT, with the deadline as it is now. */
  private synchronized void sendInit() {
    if (connected || channel == null || connectedNanos == 0 || killRequested) {
      return;
    }
    connected = true;
    JsonObject first = init.copy();
    if (stopBy != null) {
      first.put("stop_by_ns", stopBy);
    }
    channel.send(Frame.of(Frame.Type.INIT, first, warmupImage));
  }

  /** The launch failed before or after the process started: the exit ends it, or this does when none started. */
  private void launchFailed(Throwable e) {
    WorkerLaunch.deleteTmp(vertx, tmpDir);
    goneWhy = String.valueOf(e.getMessage());
    boolean started;
    synchronized (this) {
      started = process != null;
    }
    if (!started) {
      LOG.error("the worker could not be started: {}", goneWhy);
      exited.tryComplete(-1);
    }
  }

  private void frame(Frame f) {
    switch (f.type()) {
      case READY -> {
        logStart(f.header());
        ready.tryComplete(f.header());
      }
      case FAILED -> ready.tryFail(new ModelsFailed(String.valueOf(f.header().getString("message"))));
      case HEARTBEAT -> { }
      case STOPPED -> {
        // Its models are closed and its answers sent: end it now rather than wait for the JVM's own exit.
        stopped = true;
        if (archiveAtExit == null) {
          synchronized (this) {
            process.destroyForcibly();
          }
        } // a training worker's JVM writes the archive as it exits: its STOP's kill timer still bounds it
      }
      default -> onFrame.accept(f);
    }
  }

  /** The start, step by step, at INFO: where a cold start's time goes. */
  private void logStart(JsonObject ready) {
    long now = System.nanoTime();
    JsonObject steps = ready.getJsonObject("steps", new JsonObject());
    LOG.info("{} (pid {}) ready {} ms after its launch: JVM start to connected {} ms ({}), native runtimes {} ms"
        + " (beside the rest), INIT received {} ms, models {} ms, warm-up {} ms", archiveAtExit != null ? "training worker" : "worker", pid(),
        (now - launchedNanos) / 1_000_000, (connectedNanos - launchedNanos) / 1_000_000,
        usesArchive ? "from the class archive" : "no class archive", steps.getJsonObject("natives_ms"),
        steps.getLong("init_ms"), steps.getLong("models_ms"), steps.getLong("warmup_ms"));
  }

  private void onExit(int code) {
    if (goneWhy == null) {
      goneWhy = stopped ? "stopped" : "exited with code " + code;
    }
    exited.tryComplete(stopped ? 0 : code);
    ready.tryFail("the worker exited with code " + code + " before its models were loaded");
    if (killTimer >= 0) {
      vertx.cancelTimer(killTimer);
    }
    if (channel != null) {
      channel.close();
    }
    WorkerLaunch.deleteTmp(vertx, tmpDir);
  }

  /** @return the worker's READY header: its models and their fingerprints */
  Future<JsonObject> ready() {
    return ready.future();
  }

  /** @return completes once with the worker's exit code when its process is gone (-1: it never started) */
  Future<Integer> exited() {
    return exited.future();
  }

  /** @return why the worker is gone (its exit code, or why it could not be started), once {@link #exited()} */
  String goneWhy() {
    return goneWhy;
  }

  synchronized Long pid() {
    return process == null ? null : process.pid();
  }

  /** @return nanoseconds since the worker last sent a frame (it sends a heartbeat every second) */
  long silentNanos() {
    return System.nanoTime() - lastHeardNanos;
  }

  synchronized void send(Frame f) {
    if (connected) {
      channel.send(f);
    }
  }

  /** A renew moved the lease's deadline: the worker stops by {@code nanos} unless told a later one. */
  synchronized void stopBy(long nanos) {
    stopBy = nanos;
    if (connected) {
      channel.send(Frame.of(Frame.Type.DEADLINE, new JsonObject().put("stop_by_ns", nanos)));
    }
  }

  /**
   * Asks the worker to stop (running model calls finish, the rest comes back), then kills it if it
   * has not exited within {@code withinMs}; asked again with a shorter bound, the kill comes sooner.
   * Not connected yet: killed (at once, or the moment its process exists). @return completes once it is gone
   */
  Future<Integer> stop(long withinMs) {
    boolean connected;
    synchronized (this) {
      connected = this.connected;
    }
    if (!connected) {
      kill();
      return exited();
    }
    if (killAt == Long.MAX_VALUE) {
      send(Frame.of(Frame.Type.STOP, new JsonObject()));
    }
    long at = System.nanoTime() + Math.max(1, withinMs) * 1_000_000L;
    if (at < killAt) {
      killAt = at;
      if (killTimer >= 0) {
        vertx.cancelTimer(killTimer);
      }
      killTimer = vertx.setTimer(Math.max(1, withinMs), t -> {
        if (!exited.future().isComplete()) {
          LOG.warn("worker {} still running {} ms after STOP; killing it to free the GPU", pid(), withinMs);
          kill();
        }
      });
    }
    return exited();
  }

  /**
   * SIGKILL to the worker's process group (a worker has STOP for a clean end; this one is past it, or
   * past its lease's time): before the process exists, the moment it does.
   */
  synchronized void kill() {
    killRequested = true;
    if (process != null && process.isAlive()) {
      ChildProcess.signal(process, "KILL");
    }
  }
}
