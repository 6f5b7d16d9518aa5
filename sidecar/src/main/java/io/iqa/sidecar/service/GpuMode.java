package io.iqa.sidecar.service;

import io.iqa.sidecar.model.ModelEntry;
import java.util.List;

/**
 * How the sidecar guards the GPU, chosen once from the config and the models' devices, and what
 * /health's {@code gpu_lease} says of it.
 */
public enum GpuMode {
  /** A model wants a GPU (or lease.required): its worker runs only under a lease. */
  LEASED,
  /** Every model runs on CPU: no lease, and the worker sees no GPU. */
  CPU_ONLY,
  /** No broker configured: the models run where configured, unguarded. */
  UNGUARDED;

  public static GpuMode of(SidecarOptions options, List<ModelEntry> entries) {
    return !options.hasBroker() ? UNGUARDED
        : options.wantsGpu(entries) || options.leaseRequired() ? LEASED : CPU_ONLY;
  }

  /** @return /health's {@code gpu_lease}: whether this sidecar takes a lease, in words */
  String describe(SidecarOptions options) {
    return switch (this) {
      case LEASED -> options.leaseRequired() ? "required (lease.required)" : "taken when a model runs on a GPU";
      case CPU_ONLY -> "not needed: every model runs on CPU (lease.required is false)";
      case UNGUARDED -> "none: no broker configured, nothing guards the GPU";
    };
  }
}
