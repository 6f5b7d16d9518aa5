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
 * @param yieldable the holder gives the GPU back when asked: {@link Lease#onYieldRequested} runs
 *     when a request of equal or higher priority waits for it
 * @param preempt while waiting, ask holders of a lower priority to yield even if they did not offer
 */
public record LeaseRequest(String owner, String purpose, double ttlS, double waitS, Integer gpu, Integer vramMb,
    String priority, Long pid, boolean yieldable, boolean preempt) {

  /** A whole-device lease on any GPU for {@code owner}: ttl 60 s, no waiting, this process's pid. */
  public static LeaseRequest of(String owner) {
    return new LeaseRequest(owner, "", 60, 0, null, null, "normal", ProcessHandle.current().pid(), false,
        false);
  }

  public LeaseRequest withPurpose(String p) {
    return new LeaseRequest(owner, p, ttlS, waitS, gpu, vramMb, priority, pid, yieldable, preempt);
  }

  public LeaseRequest withTtl(double seconds) {
    return new LeaseRequest(owner, purpose, seconds, waitS, gpu, vramMb, priority, pid, yieldable, preempt);
  }

  public LeaseRequest withWait(double seconds) {
    return new LeaseRequest(owner, purpose, ttlS, seconds, gpu, vramMb, priority, pid, yieldable, preempt);
  }

  /** @param index a device index, or null for any device */
  public LeaseRequest withGpu(Integer index) {
    return new LeaseRequest(owner, purpose, ttlS, waitS, index, vramMb, priority, pid, yieldable, preempt);
  }

  /** @param mb VRAM to reserve, or null for the whole device */
  public LeaseRequest withVramMb(Integer mb) {
    return new LeaseRequest(owner, purpose, ttlS, waitS, gpu, mb, priority, pid, yieldable, preempt);
  }

  public LeaseRequest withPriority(String p) {
    return new LeaseRequest(owner, purpose, ttlS, waitS, gpu, vramMb, p, pid, yieldable, preempt);
  }

  public LeaseRequest withPid(Long p) {
    return new LeaseRequest(owner, purpose, ttlS, waitS, gpu, vramMb, priority, p, yieldable, preempt);
  }

  /** @param y offer to yield the GPU when a request of equal or higher priority waits for it */
  public LeaseRequest withYield(boolean y) {
    return new LeaseRequest(owner, purpose, ttlS, waitS, gpu, vramMb, priority, pid, y, preempt);
  }

  /** @param p while waiting, ask holders of a lower priority to yield */
  public LeaseRequest withPreempt(boolean p) {
    return new LeaseRequest(owner, purpose, ttlS, waitS, gpu, vramMb, priority, pid, yieldable, p);
  }
}
