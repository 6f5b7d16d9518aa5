package io.iqa.broker.gpu;

import io.iqa.broker.lease.Holders;
import io.iqa.broker.store.Lease;
import io.iqa.broker.store.LeaseStore;
import io.iqa.broker.store.StoreSnapshot;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the GPUs really do, next to what was leased: every {@code observe_interval_ms} the broker
 * asks {@code nvidia-smi} which processes hold GPU memory, and attributes each to the live lease on
 * its GPU whose holder is that process or one of its ancestors (a lease's pid and its descendants),
 * or whose id the process carries as {@code GPU_LEASE_ID} in its environment (a container started
 * by the fallback, which is not a descendant of its lease's holder). What is left uses a GPU
 * <b>without a lease</b>: it shows as {@code unleased} in the status and metrics, and each new such
 * process raises one {@code unleased_gpu_use} event. A process on a GPU that also carries a lease
 * the broker cannot trace (no pid, or a holder on another host) is shown but not called unleased.
 *
 * <p>nvidia-smi is sampled first and the leases read after, so a process whose lease was granted
 * before the sample is always attributed. Without nvidia-smi (no NVIDIA driver) the observer says
 * so once and stops.
 */
public final class GpuObserver {

  private static final Logger LOG = LoggerFactory.getLogger(GpuObserver.class);

  /** One process holding GPU memory. {@code leaseId} null: no lease holds it; {@code untraced}: cannot tell. */
  public record Use(int gpu, long pid, String command, Integer usedMb, Long leaseId, boolean untraced) {
    public boolean unleased() {
      return leaseId == null && !untraced;
    }

    JsonObject toJson() {
      return new JsonObject().put("pid", pid).put("command", command).put("used_mb", usedMb).put("lease_id", leaseId);
    }
  }

  /** The latest sample: null fields until the first one; {@code error} when nvidia-smi failed. */
  public record Observation(Instant at, List<Use> uses, String error) {
    static final Observation NONE = new Observation(null, List.of(), null);

    /** @return the memory the processes of {@code leaseId} use, or null when none shows */
    public Integer leaseUsedMb(long leaseId) {
      int sum = 0;
      boolean any = false;
      for (Use u : uses) {
        if (u.leaseId() != null && u.leaseId() == leaseId) {
          any = true;
          sum += u.usedMb() == null ? 0 : u.usedMb();
        }
      }
      return any ? sum : null;
    }

    public List<Use> unleased(int gpu) {
      return uses.stream().filter(u -> u.gpu() == gpu && u.unleased()).toList();
    }

    /** The {@code observed} block of one gpu in the status. */
    public JsonObject gpuJson(int gpu) {
      JsonArray all = new JsonArray();
      JsonArray unleased = new JsonArray();
      for (Use u : uses) {
        if (u.gpu() == gpu) {
          all.add(u.toJson());
          if (u.unleased()) {
            unleased.add(u.toJson());
          }
        }
      }
      return new JsonObject().put("at", at == null ? null : at.toString()).put("error", error)
          .put("processes", all).put("unleased", unleased);
    }
  }

  private final Vertx vertx;
  private final NvidiaSmi smi;
  private final Holders holders;
  private final LeaseStore store;
  private final long intervalMs;
  private final Set<String> reported = new HashSet<>();
  /** The gpu:pid keys unleased in the previous sample. */
  private Set<String> unleasedBefore = Set.of();
  private volatile Observation latest = Observation.NONE;
  private long timer = -1;
  private boolean sampling;
  private boolean failing;

  public GpuObserver(Vertx vertx, NvidiaSmi smi, Holders holders, LeaseStore store, long intervalMs) {
    this.vertx = vertx;
    this.smi = smi;
    this.holders = holders;
    this.store = store;
    this.intervalMs = intervalMs;
  }

  /** Samples now and every interval (on the event loop; nvidia-smi runs on a worker thread). */
  public void start() {
    if (intervalMs > 0) {
      sample();
      timer = vertx.setPeriodic(intervalMs, t -> sample());
    }
  }

  public void stop() {
    if (timer >= 0) {
      vertx.cancelTimer(timer);
      timer = -1;
    }
  }

  /** @return whether the observer runs (nvidia-smi was found and observe_interval_ms is not 0) */
  public boolean active() {
    return timer >= 0;
  }

  public Observation latest() {
    return latest;
  }

  private void sample() {
    if (sampling) {
      return;
    }
    sampling = true;
    vertx.executeBlocking(smi::computeApps, false)
        .compose(apps -> store.snapshot().compose(snapshot ->
            vertx.executeBlocking(() -> attribute(apps, snapshot), false)))
        .onComplete(ar -> {
          sampling = false;
          if (ar.succeeded()) {
            failing = false;
            latest = ar.result();
            report(ar.result());
          } else if (ar.cause() instanceof NvidiaSmi.Unavailable u && u.missing()) {
            LOG.info("not observing GPU memory: {} (observe_interval_ms={})", u.getMessage(), intervalMs);
            latest = new Observation(Instant.now(), List.of(), u.getMessage());
            stop();
          } else {
            if (!failing) {
              LOG.warn("observing GPU memory failed: {}", ar.cause().getMessage());
              failing = true;
            }
            latest = new Observation(Instant.now(), latest.uses(), ar.cause().getMessage());
          }
        });
  }

  /** Blocking: reads the holders' process trees and, for the rest, their environments. */
  private Observation attribute(List<NvidiaSmi.ComputeApp> apps, StoreSnapshot snapshot) {
    Map<Long, Long> leaseOfPid = new HashMap<>();
    Map<Long, Lease> byId = new HashMap<>();
    Set<Integer> untracedGpus = new HashSet<>();
    for (Lease l : snapshot.leases()) {
      byId.put(l.leaseId(), l);
      if (l.pid() == null || l.pidIdentity() == null || !holders.isLocal(l.host())
          || !holders.alive(l.pid(), l.pidIdentity())) {
        untracedGpus.add(l.gpu());
        continue;
      }
      leaseOfPid.put(l.pid(), l.leaseId());
      ProcessHandle.of(l.pid()).ifPresent(h -> h.descendants().forEach(d -> leaseOfPid.put(d.pid(), l.leaseId())));
    }
    List<Use> uses = new ArrayList<>();
    for (NvidiaSmi.ComputeApp app : apps) {
      Long leaseId = leaseOfPid.get(app.pid());
      if (leaseId == null || byId.get(leaseId).gpu() != app.gpu()) {
        Long declared = Holders.declaredLease(app.pid());
        leaseId = declared != null && byId.containsKey(declared) && byId.get(declared).gpu() == app.gpu()
            ? declared : null;
      }
      uses.add(new Use(app.gpu(), app.pid(), command(app.pid()), app.usedMb(), leaseId,
          leaseId == null && untracedGpus.contains(app.gpu())));
    }
    return new Observation(Instant.now(), List.copyOf(uses), null);
  }

  /**
   * One event per process seen using a GPU without a lease in two samples in a row: a process that
   * nvidia-smi listed as it exited (a worker stopping as its lease is released) has left /proc by
   * the time its ancestry is read, and one sample cannot tell it from an unleased one.
   */
  private void report(Observation o) {
    Set<String> now = new HashSet<>();
    for (Use u : o.uses()) {
      if (!u.unleased()) {
        continue;
      }
      String key = u.gpu() + ":" + u.pid();
      now.add(key);
      if (unleasedBefore.contains(key) && reported.add(key)) {
        String what = "pid " + u.pid() + " (" + u.command() + ")";
        String detail = what + " uses " + (u.usedMb() == null ? "an unknown amount of" : u.usedMb() + " MiB of")
            + " gpu " + u.gpu() + " without a lease";
        LOG.warn("{}", detail);
        store.note(io.iqa.broker.store.LeaseEventType.UNLEASED_GPU_USE, u.gpu(), what, detail)
            .onFailure(e -> LOG.debug("could not record {}: {}", io.iqa.broker.store.LeaseEventType.UNLEASED_GPU_USE.wireName(), e.getMessage()));
      }
    }
    reported.retainAll(now);
    unleasedBefore = now;
  }

  private static String command(long pid) {
    return ProcessHandle.of(pid).flatMap(h -> h.info().command())
        .map(c -> c.substring(c.lastIndexOf('/') + 1)).orElse("?");
  }

  /** @return the {@code GPU_LEASE_ID} in the process's environment, or null (absent, or not readable) */
}
