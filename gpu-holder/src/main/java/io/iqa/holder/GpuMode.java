package io.iqa.holder;

/**
 * How a holder guards the GPU, chosen once from its configuration, and what its /health's
 * {@code gpu_lease} says of it.
 */
public enum GpuMode {
  /** The upstream wants a GPU (or a lease is required): it runs only under a lease. */
  LEASED,
  /** Everything runs on CPU: no lease, and the upstream sees no GPU. */
  CPU_ONLY,
  /** No broker configured: the upstream runs where configured, unguarded. */
  UNGUARDED;

  /** @return /health's {@code gpu_lease}: whether this holder takes a lease, in words */
  public String describe(boolean leaseRequired) {
    return switch (this) {
      case LEASED -> leaseRequired ? "required (lease.required)" : "taken when a model runs on a GPU";
      case CPU_ONLY -> "not needed: every model runs on CPU (lease.required is false)";
      case UNGUARDED -> "none: no broker configured, nothing guards the GPU";
    };
  }
}
