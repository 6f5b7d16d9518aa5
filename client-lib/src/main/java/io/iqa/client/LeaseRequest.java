package io.iqa.client;

/**
 * What to ask the broker for. Build with {@link #of(String)} and the {@code with*} methods.
 *
 * @param ttlS seconds the lease lives without a renew; the holder stops by its own deadline (the
 *     request's send time + ttl) whenever no renew succeeded
 * @param waitS seconds to wait in the broker's queue; the HTTP call waits as long
 * @param gpu device index, or null for any
 * @param vramMb VRAM to reserve, or null for the whole device
 * @param pid holder pid (the broker releases the lease when it dies), or null
 */
public record LeaseRequest(String owner, String purpose, double ttlS, double waitS, Integer gpu, Integer vramMb,
    String priority, Long pid) {

  /** A whole-device lease on any GPU for {@code owner}: ttl 60 s, no waiting, this process's pid. */
  public static LeaseRequest of(String owner) {
    return new LeaseRequest(owner, "", 60, 0, null, null, "normal", ProcessHandle.current().pid());
  }

  public LeaseRequest withPurpose(String p) {
    return new LeaseRequest(owner, p, ttlS, waitS, gpu, vramMb, priority, pid);
  }

  public LeaseRequest withTtl(double seconds) {
    return new LeaseRequest(owner, purpose, seconds, waitS, gpu, vramMb, priority, pid);
  }

  public LeaseRequest withWait(double seconds) {
    return new LeaseRequest(owner, purpose, ttlS, seconds, gpu, vramMb, priority, pid);
  }

  /** @param index a device index, or null for any device */
  public LeaseRequest withGpu(Integer index) {
    return new LeaseRequest(owner, purpose, ttlS, waitS, index, vramMb, priority, pid);
  }

  /** @param mb VRAM to reserve, or null for the whole device */
  public LeaseRequest withVramMb(Integer mb) {
    return new LeaseRequest(owner, purpose, ttlS, waitS, gpu, mb, priority, pid);
  }

  public LeaseRequest withPriority(String p) {
    return new LeaseRequest(owner, purpose, ttlS, waitS, gpu, vramMb, p, pid);
  }

  public LeaseRequest withPid(Long p) {
    return new LeaseRequest(owner, purpose, ttlS, waitS, gpu, vramMb, priority, p);
  }
}
