package io.iqa.client;

import java.util.ArrayList;
import java.util.List;

/**
 * The rules of a command run under a lease ({@code iqa gpu run}, the container fallback), without
 * I/O: {@link LeasedProcess} feeds it events and carries out its actions, the simulator drives it on
 * a virtual clock. The lease is released only once the command and every process it started (its
 * family: its process group, the processes that carry its run id, a container it started) are
 * gone, whether the command exited by itself or was stopped.
 *
 * <p>The table, (phase, event) to (phase, actions):
 * <pre>
 * STARTING  Launch                  STARTING  Spawn            (the lease's stop-by time passed, or a stop was
 *                                                              asked: DONE, Release, Finish(failed): never started)
 * STARTING  Started                 RUNNING                    (a stop asked meanwhile: STOPPING, Signal TERM)
 * STARTING  StartFailed             DONE      Release, Finish(failed)
 * STARTING  Stop                    STARTING  (remembered: acted on once started)
 * RUNNING   Stop(lost, yield, timeout, signal)  STOPPING  Signal TERM, WakeAt(now + grace)
 * RUNNING   MainExited              LINGERING WatchFamily  (its children may run on)
 * LINGERING FamilyGone              DONE      Release, Finish
 * LINGERING Stop                    STOPPING  Signal TERM, WakeAt(now + grace)
 * STOPPING  Tick past the grace, or past the lease's stop-by time   STOPPING  Signal KILL, WakeAt(now + 100 ms)
 * STOPPING  Tick after the KILL     STOPPING  Signal KILL again, WakeAt(now + 100 ms)  (a process that left the
 *                                                              group just as the KILL came is found by its run id)
 * STOPPING  MainExited              STOPPING  WatchFamily
 * STOPPING  FamilyGone              DONE      Release, Finish
 * DONE      anything                DONE
 * </pre>
 * The release says {@code yielded} when a yield request stopped the command and the lease was not
 * lost meanwhile. SIGKILL comes at the end of the grace, or at the lease's stop-by time ({@link
 * Deadline}) when that is sooner: a command stopped because its holder's deadline came is killed at
 * once, since the broker may hand the GPU on at that lease's expiry. A lease whose stop-by time has
 * passed when the command is about to start (its grant came back late) starts nothing.
 */
public final class HeldProcessRules {

  public enum Phase { STARTING, RUNNING, LINGERING, STOPPING, DONE }

  /** Why the command is stopped. */
  public enum Cause { LOST, YIELD, TIMEOUT, SIGNAL }

  public sealed interface Event {
    long now();
  }

  /** The command is about to start: the edge spawns it only when the rules answer {@link Spawn}. */
  public record Launch(long now) implements Event {
  }

  /** The command's process started. */
  public record Started(long now, long pid) implements Event {
  }

  /** The command could not start. */
  public record StartFailed(long now, String why) implements Event {
  }

  /** The command must stop ({@code why} for the log). */
  public record Stop(long now, Cause cause, String why) implements Event {
  }

  /** The command's own process exited with {@code code} (128 + N for signal N). */
  public record MainExited(long now, int code) implements Event {
  }

  /** No process of the command's family runs any more. */
  public record FamilyGone(long now) implements Event {
  }

  /** A wake-up asked for with {@link WakeAt}. */
  public record Tick(long now) implements Event {
  }

  /** The lease's stop-by time moved (granted, renewed): no process of the family may run past it. */
  public record Deadline(long now, long stopByNanos) implements Event {
  }

  public sealed interface Action {
  }

  /**
   * Send {@code signal} ({@code TERM}, {@code KILL}) to every process of the family; {@code again}
   * when it repeats a KILL already sent (for the log: said once).
   */
  public record Signal(String signal, String why, boolean again) implements Action {
    public Signal(String signal, String why) {
      this(signal, why, false);
    }
  }

  /** Start the command. */
  public record Spawn() implements Action {
  }

  /** Call {@link Tick} at {@code at}. */
  public record WakeAt(long at) implements Action {
  }

  /** Look at the family until none of it runs, then tell {@link FamilyGone}. */
  public record WatchFamily() implements Action {
  }

  /** Release the lease ({@code reason} or none): the family is gone. */
  public record Release(String reason) implements Action {
  }

  /**
   * The run is over. @param exitCode the command's (0 when it never started)
   * @param failedToStart why it could not start, or null
   */
  public record Finish(int exitCode, Cause stoppedBy, String failedToStart) implements Action {
  }

  /** How often a KILL is sent again while any process of the family still runs. */
  static final long KILL_REPEAT_NANOS = 100_000_000L;

  private final long graceNanos;
  private Phase phase = Phase.STARTING;
  private Cause stoppedBy;
  private boolean lost;
  private long killAt = -1;
  private boolean killed;
  private boolean launched;
  private long repeatAt;
  private long stopBy = Long.MAX_VALUE;
  private Integer exitCode;

  /** @param graceNanos how long SIGTERM may take before SIGKILL */
  public HeldProcessRules(long graceNanos) {
    this.graceNanos = graceNanos;
  }

  public List<Action> handle(Event e) {
    List<Action> out = new ArrayList<>();
    if (e instanceof Stop s && s.cause() == Cause.LOST) {
      lost = true;
    }
    if (e instanceof Deadline d) {
      stopBy = d.stopByNanos();
      if (phase == Phase.STOPPING && !killed && stopBy < killAt) {
        killAt = stopBy;
        if (d.now() >= killAt) {
          kill(d.now(), "the lease's time is up", out);
        } else {
          out.add(new WakeAt(killAt));
        }
      }
      return out;
    }
    switch (phase) {
      case STARTING -> {
        if (e instanceof Launch l && !launched) {
          launched = true;
          if (stoppedBy != null || l.now() >= stopBy) {
            phase = Phase.DONE;
            out.add(new Release(null));
            out.add(new Finish(0, stoppedBy != null ? stoppedBy : Cause.LOST, stoppedBy != null
                ? "stopped before it started" : "the lease's time was up before the command started"));
          } else {
            out.add(new Spawn());
          }
        } else if (e instanceof Started st) {
          phase = Phase.RUNNING;
          if (stoppedBy != null) {
            stop(st.now(), "stopped while it started", out);
          }
        } else if (e instanceof StartFailed f) {
          phase = Phase.DONE;
          out.add(new Release(null));
          out.add(new Finish(0, stoppedBy, f.why()));
        } else if (e instanceof Stop s && stoppedBy == null) {
          stoppedBy = s.cause();
        }
      }
      case RUNNING -> {
        if (e instanceof Stop s) {
          stoppedBy = s.cause();
          stop(s.now(), s.why(), out);
        } else if (e instanceof MainExited x) {
          exitCode = x.code();
          phase = Phase.LINGERING;
          out.add(new WatchFamily());
        }
      }
      case LINGERING -> {
        if (e instanceof FamilyGone g) {
          done(out);
        } else if (e instanceof Stop s) {
          stoppedBy = s.cause();
          stop(s.now(), s.why(), out);
        }
      }
      case STOPPING -> {
        if (e instanceof Tick t && killed) {
          if (t.now() >= repeatAt) { // an earlier wake-up asked for before the KILL is not a repeat
            repeatAt = t.now() + KILL_REPEAT_NANOS;
            out.add(new Signal("KILL", "a process of its family still runs", true));
            out.add(new WakeAt(repeatAt));
          }
        } else if (e instanceof Tick t && killAt >= 0 && t.now() >= killAt) {
          kill(t.now(), t.now() >= stopBy ? "the lease's time is up"
              : "still running " + graceNanos / 1_000_000 + " ms after SIGTERM", out);
        } else if (e instanceof MainExited x) {
          exitCode = x.code();
          out.add(new WatchFamily());
        } else if (e instanceof FamilyGone g) {
          done(out);
        } else if (e instanceof Stop s && s.cause() == Cause.LOST && stoppedBy == Cause.YIELD) {
          stoppedBy = Cause.LOST; // the release then confirms the revocation, not a yield
        }
      }
      case DONE -> {
        // nothing more
      }
    }
    return out;
  }

  private void stop(long now, String why, List<Action> out) {
    phase = Phase.STOPPING;
    killAt = Math.min(now + graceNanos, stopBy);
    if (now >= killAt) {
      kill(now, why + "; the lease's time is up: no grace", out);
    } else {
      out.add(new Signal("TERM", why));
      out.add(new WakeAt(killAt));
    }
    out.add(new WatchFamily());
  }

  private void kill(long now, String why, List<Action> out) {
    killed = true;
    repeatAt = now + KILL_REPEAT_NANOS;
    out.add(new Signal("KILL", why));
    out.add(new WakeAt(repeatAt));
  }

  private void done(List<Action> out) {
    phase = Phase.DONE;
    out.add(new Release(stoppedBy == Cause.YIELD && !lost ? "yielded" : null));
    out.add(new Finish(exitCode == null ? 0 : exitCode, stoppedBy, null));
  }

  public Phase phase() {
    return phase;
  }
}
