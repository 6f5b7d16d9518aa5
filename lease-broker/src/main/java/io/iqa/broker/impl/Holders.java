package io.iqa.broker.impl;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;

/**
 * Knows this host's name and whether a holder process (pid + start time) is still the one that
 * took the lease: a reused pid has another start time, so it does not keep a lease alive.
 */
public final class Holders {

  private final String hostName;
  private final Set<String> localNames;

  public Holders() {
    this(detectHostName());
  }

  public Holders(String hostName) {
    this.hostName = hostName;
    this.localNames = Set.of(hostName.toLowerCase(Locale.ROOT), "localhost", "127.0.0.1", "::1");
  }

  public String hostName() {
    return hostName;
  }

  public boolean isLocal(String host) {
    return host != null && localNames.contains(host.toLowerCase(Locale.ROOT));
  }

  /**
   * @return the process's start time in epoch ms, or empty when no such process runs here. A zombie
   *     (killed, not yet reaped by its parent) does not run: its GPU memory is already gone.
   */
  public Optional<Long> startTimeMs(long pid) {
    return ProcessHandle.of(pid)
        .filter(ProcessHandle::isAlive)
        .filter(h -> !zombie(pid))
        .flatMap(h -> h.info().startInstant())
        .map(java.time.Instant::toEpochMilli);
  }

  /** Linux: the state field of /proc/PID/stat is Z (zombie) or X (dead). Elsewhere: false. */
  static boolean zombie(long pid) {
    try {
      String stat = java.nio.file.Files.readString(java.nio.file.Path.of("/proc", Long.toString(pid), "stat"));
      int close = stat.lastIndexOf(')'); // the command name may hold spaces and parentheses
      char state = close >= 0 && close + 2 < stat.length() ? stat.charAt(close + 2) : '?';
      return state == 'Z' || state == 'X';
    } catch (java.io.IOException | RuntimeException e) {
      return false;
    }
  }

  /** @return whether the process {@code pid} that started at {@code startMs} still runs */
  public boolean alive(long pid, long startMs) {
    return startTimeMs(pid).map(s -> s == startMs).orElse(false);
  }

  private static String detectHostName() {
    try {
      return InetAddress.getLocalHost().getHostName();
    } catch (UnknownHostException e) {
      return "localhost";
    }
  }
}
