package io.iqa.simulator;

import java.util.HashMap;
import java.util.Map;

/**
 * The simulated host's process table, as the broker's holder check reads it: a pid and an identity
 * (its start ticks since boot: no clock step changes it), alive or gone.
 */
final class Processes {

  private final Map<Long, String> alive = new HashMap<>();
  private long nextPid = 1000;
  private long ticks;

  /** @return a new process's pid; {@link #identity} says who it is */
  long spawn() {
    long pid = nextPid++;
    alive.put(pid, "boot:" + ticks++);
    return pid;
  }

  String identity(long pid) {
    return alive.get(pid);
  }

  void exit(long pid) {
    alive.remove(pid);
  }

  /** @return whether the holder {@code pid} that was {@code identity} no longer runs */
  boolean gone(long pid, String identity) {
    return identity != null && !identity.equals(alive.get(pid));
  }
}
