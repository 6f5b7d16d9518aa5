package io.iqa.sidecar.worker;

import io.vertx.core.json.JsonObject;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The worker's own hold on the GPU lease: the time it must stop by when no newer word comes from
 * the front (INIT, then a DEADLINE frame after each renew), checked on its own clock by a thread of
 * its own, which also sends the front a heartbeat every second. Past the deadline the worker halts at
 * once: a front that stalls (a long GC pause, a blocked event loop, SIGSTOP, a paused cgroup) cannot
 * leave it computing on a GPU the broker may have handed on. The front sends {@link System#nanoTime()}
 * values: the worker runs on the front's host, whose monotonic clock both processes read (Linux's
 * CLOCK_MONOTONIC, macOS's mach_absolute_time are one per host). No correction is applied: a frame
 * that arrived late must not move a deadline later.
 */
final class LeaseDeadline {

  private static final Logger LOG = LoggerFactory.getLogger(LeaseDeadline.class);
  private static final long CHECK_MS = 50;
  /**
   * How long before the deadline the worker stops: a JVM's own exit (halt too) waits for threads in
   * native calls, a few hundred ms with a model runtime busy, so it kills itself (SIGKILL), and begins
   * early enough for that to be over before the front's own deadline.
   */
  static final long LEAD_NANOS = 250_000_000L;
  private static final long HEARTBEAT_MS = 1000;
  /** Exit code of a worker that stopped by its lease's deadline when it could not kill itself. */
  static final int EXIT_DEADLINE = 4;

  private volatile FrameChannel out;
  private volatile long stopBy = Long.MAX_VALUE;

  /** Starts watching the deadline and sending heartbeats on {@code channel}. */
  void start(FrameChannel channel) {
    this.out = channel;
    Thread t = new Thread(this::watch, "worker-lease-deadline");
    t.setDaemon(true);
    t.start();
  }

  /** INIT or DEADLINE: the time to stop by ({@code stop_by_ns}; none without a lease). */
  void update(JsonObject header) {
    Long s = header.getLong("stop_by_ns");
    stopBy = s == null ? Long.MAX_VALUE : s;
  }

  /** SIGKILL to this process: no wait for threads in native calls; halt when even that cannot be sent. */
  private static void killSelf() {
    try {
      new ProcessBuilder("kill", "-KILL", Long.toString(ProcessHandle.current().pid())).start();
      Thread.sleep(1000);
    } catch (Exception e) {
      // fall through to halt
    }
    Runtime.getRuntime().halt(EXIT_DEADLINE);
  }

  private void watch() {
    long lastBeat = 0;
    while (true) {
      long now = System.nanoTime();
      long by = stopBy;
      if (by != Long.MAX_VALUE && now > by - LEAD_NANOS) {
        LOG.error("the GPU lease's deadline is {} ms away without word from the front (stalled or gone): "
            + "exiting now to free the GPU", (by - now) / 1_000_000);
        killSelf();
      }
      if (now - lastBeat >= HEARTBEAT_MS * 1_000_000L) {
        out.send(Frame.of(Frame.Type.HEARTBEAT, new JsonObject()));
        lastBeat = now;
      }
      try {
        Thread.sleep(CHECK_MS);
      } catch (InterruptedException e) {
        return;
      }
    }
  }
}
