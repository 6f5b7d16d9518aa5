package io.iqa.broker.lease;

import io.iqa.protocol.Procs;
import java.net.InetAddress;
import java.net.UnknownHostException;
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

  private static final String BOOT_ID = Procs.bootId();

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
      return Procs.stat(pid).filter(Procs.Stat::running).map(stat -> BOOT_ID + ":" + stat.startTicks());
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
    for (long pid : Procs.pids()) {
      Long declared = declaredLease(pid);
      if (declared != null && declared == leaseId && Procs.running(pid)) {
        return true;
      }
    }
    return false;
  }

  /** @return the lease a process declares with {@code GPU_LEASE_ID} in its environment, or null */
  public static Long declaredLease(long pid) {
    String id = Procs.env(pid, "GPU_LEASE_ID");
    return id != null && id.matches("\\d{1,18}") ? Long.parseLong(id) : null;
  }

  private static String detectHostName() {
    try {
      return InetAddress.getLocalHost().getHostName();
    } catch (UnknownHostException e) {
      return "localhost";
    }
  }
}
