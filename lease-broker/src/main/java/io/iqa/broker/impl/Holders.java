package io.iqa.broker.impl;

import java.io.IOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;

/**
 * Knows this host's name and whether a holder process is still the one that took the lease. A
 * process is known by an identity that no clock step can change: on Linux the boot id and its
 * start time in clock ticks since boot ({@code /proc/PID/stat} field 22), so a reused pid (another
 * start time) or a pid from an earlier boot does not keep a lease alive, and a wall-clock step
 * (which moves the JDK's start instants, derived from {@code /proc/stat}'s btime) does not end one.
 * Elsewhere the JDK's start instant stands in (exposed to clock steps; said in its prefix).
 */
public final class Holders {

  private static final Path PROC = Path.of("/proc");
  private static final String BOOT_ID = bootId();

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
   * @return the identity of the process {@code pid} ({@code BOOT_ID:TICKS} on Linux), or empty when
   *     no such process runs here. A zombie (killed, not yet reaped by its parent) does not run: its
   *     GPU memory is already gone.
   */
  public Optional<String> identity(long pid) {
    if (BOOT_ID != null) {
      return procStat(pid).filter(stat -> !stat.zombie()).map(stat -> BOOT_ID + ":" + stat.startTicks());
    }
    return ProcessHandle.of(pid)
        .filter(ProcessHandle::isAlive)
        .flatMap(h -> h.info().startInstant())
        .map(start -> "start-ms:" + start.toEpochMilli());
  }

  /** @return whether the process {@code pid} whose identity was {@code identity} still runs */
  public boolean alive(long pid, String identity) {
    return identity(pid).map(identity::equals).orElse(false);
  }

  /**
   * @return whether a process of this host still runs that carries {@code GPU_LEASE_ID=leaseId} in
   *     its environment (every process the project starts under a lease does: the sidecar's worker,
   *     {@code iqa gpu run}'s command and what it starts, the fallback's container), so a holder that
   *     died does not end its lease while what it started still holds GPU memory. Only processes this
   *     broker may read (its own user's, or all as root) are seen.
   */
  public boolean carried(long leaseId) {
    try (java.nio.file.DirectoryStream<Path> all = Files.newDirectoryStream(PROC,
        p -> p.getFileName().toString().matches("\\d+"))) {
      for (Path dir : all) {
        long pid = Long.parseLong(dir.getFileName().toString());
        Long declared = declaredLease(pid);
        if (declared != null && declared == leaseId && procStat(pid).map(st -> !st.zombie()).orElse(false)) {
          return true;
        }
      }
    } catch (IOException | RuntimeException e) {
      // no /proc: nothing to look at
    }
    return false;
  }

  /** @return the lease a process declares with {@code GPU_LEASE_ID} in its environment, or null */
  public static Long declaredLease(long pid) {
    try {
      String env = new String(Files.readAllBytes(PROC.resolve(Long.toString(pid)).resolve("environ")),
          java.nio.charset.StandardCharsets.UTF_8);
      for (String var : env.split("\0")) {
        if (var.startsWith("GPU_LEASE_ID=") && var.substring(13).matches("\\d{1,18}")) {
          return Long.parseLong(var.substring(13));
        }
      }
    } catch (IOException | RuntimeException e) {
      // another user's process, or gone: nothing declared that this broker can read
    }
    return null;
  }

  /** What this class reads of {@code /proc/PID/stat}. */
  record ProcStat(char state, long startTicks) {
    boolean zombie() {
      return state == 'Z' || state == 'X';
    }
  }

  /** @return {@code /proc/PID/stat}'s state and start time, or empty when there is no such process */
  static Optional<ProcStat> procStat(long pid) {
    try {
      return Optional.of(parseStat(Files.readString(PROC.resolve(Long.toString(pid)).resolve("stat"))));
    } catch (IOException | RuntimeException e) {
      return Optional.empty();
    }
  }

  /**
   * Fields after the command name, which is in parentheses and may hold spaces and parentheses
   * itself: state is the 3rd field, starttime the 22nd (proc(5)).
   */
  static ProcStat parseStat(String stat) {
    int close = stat.lastIndexOf(')');
    String[] rest = stat.substring(close + 2).trim().split(" ");
    return new ProcStat(rest[0].charAt(0), Long.parseLong(rest[19]));
  }

  private static String bootId() {
    try {
      return Files.readString(PROC.resolve("sys/kernel/random/boot_id")).trim();
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  private static String detectHostName() {
    try {
      return InetAddress.getLocalHost().getHostName();
    } catch (UnknownHostException e) {
      return "localhost";
    }
  }
}
