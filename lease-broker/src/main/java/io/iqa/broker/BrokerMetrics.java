package io.iqa.broker;

import io.iqa.broker.gpu.GpuDevice;
import io.iqa.broker.gpu.GpuObserver;
import io.iqa.broker.store.StoreSnapshot;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/** The broker's Prometheus metrics. Counts this broker's own answers; gauges come from the store. */
public final class BrokerMetrics {

  private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final Map<Integer, AtomicInteger> active = new HashMap<>();
  private final Map<Integer, AtomicInteger> waiting = new HashMap<>();
  private final AtomicInteger waitingAny = new AtomicInteger();
  private final Map<String, Counter> ends = new HashMap<>();
  private final Map<Integer, Counter> grants = new HashMap<>();
  private final Counter busy;
  private final Counter renewals;
  private final Timer grantWait;

  /** @param observed the GPU observer's latest sample (for the unleased-use gauges) */
  public BrokerMetrics(List<GpuDevice> gpus, Supplier<GpuObserver.Observation> observed) {
    for (GpuDevice gpu : gpus) {
      String idx = Integer.toString(gpu.index());
      Gauge.builder("gpu_lease_unleased_processes", () -> observed.get().unleased(gpu.index()).size())
          .tag("gpu", idx).description("processes nvidia-smi shows using this gpu without a lease (0 when not "
              + "observed)").register(registry);
      Gauge.builder("gpu_lease_unleased_vram_bytes", () -> observed.get().unleased(gpu.index()).stream()
              .mapToDouble(u -> u.usedMb() == null ? 0 : u.usedMb() * 1024.0 * 1024.0).sum())
          .tag("gpu", idx).baseUnit("bytes").description("GPU memory used by processes without a lease")
          .register(registry);
      Gauge.builder("gpu_lease_observed_vram_bytes", () -> observed.get().uses().stream()
              .filter(u -> u.gpu() == gpu.index() && u.leaseId() != null)
              .mapToDouble(u -> u.usedMb() == null ? 0 : u.usedMb() * 1024.0 * 1024.0).sum())
          .tag("gpu", idx).baseUnit("bytes").description("GPU memory nvidia-smi shows the lease holders using")
          .register(registry);
      AtomicInteger a = new AtomicInteger();
      Gauge.builder("gpu_lease_active", a, AtomicInteger::get).tag("gpu", idx)
          .description("leases held on this gpu now, revoking ones included").register(registry);
      active.put(gpu.index(), a);
      AtomicInteger w = new AtomicInteger();
      Gauge.builder("gpu_lease_waiting", w, AtomicInteger::get).tag("gpu", idx)
          .description("requests queued for this gpu now").register(registry);
      waiting.put(gpu.index(), w);
      grants.put(gpu.index(), Counter.builder("gpu_lease_grants").tag("gpu", idx)
          .description("leases granted by this broker").register(registry));
      Gauge.builder("gpu_lease_vram_bytes", () -> gpu.vramMb() * 1024.0 * 1024.0).tag("gpu", idx).baseUnit("bytes")
          .description("the gpu's VRAM as configured or detected (0: unknown, whole-device leases only)")
          .register(registry);
    }
    // A request for any gpu is on no gpu's queue alone: its own series, so the waits add up.
    Gauge.builder("gpu_lease_waiting", waitingAny, AtomicInteger::get).tag("gpu", "any")
        .description("requests queued for any gpu now").register(registry);
    busy = Counter.builder("gpu_lease_busy").description("lease requests answered 409 gpu_busy").register(registry);
    renewals = Counter.builder("gpu_lease_renewals").description("successful renewals").register(registry);
    grantWait = Timer.builder("gpu_lease_grant_wait")
        .description("time from lease request to grant, waits included")
        .publishPercentileHistogram()
        .minimumExpectedValue(Duration.ofNanos(100_000))
        .maximumExpectedValue(Duration.ofSeconds(600))
        .register(registry);
  }

  public void granted(int gpu, long waitedNanos) {
    Counter c = grants.get(gpu);
    if (c != null) {
      c.increment();
    }
    grantWait.record(waitedNanos, java.util.concurrent.TimeUnit.NANOSECONDS);
  }

  public void ended(io.iqa.protocol.wire.EndReason reason) {
    ends.computeIfAbsent(reason.wireName(), r -> Counter.builder("gpu_lease_ends").tag("reason", r)
        .description("leases ended, by reason").register(registry)).increment();
  }

  /** How a revocation finished: {@code confirmed} by the holder, {@code expired}, or {@code immediate}. */
  public void revocationFinished(String outcome) {
    ends.computeIfAbsent("revocation:" + outcome, r -> Counter.builder("gpu_lease_revocations").tag("outcome", outcome)
        .description("revocations by how the GPU was handed on").register(registry)).increment();
  }

  public void busy() {
    busy.increment();
  }

  public void renewed() {
    renewals.increment();
  }

  /** Updates the gauges from a snapshot and renders Prometheus text. */
  public String scrape(StoreSnapshot snapshot) {
    active.values().forEach(a -> a.set(0));
    waiting.values().forEach(a -> a.set(0));
    waitingAny.set(0);
    snapshot.leases().forEach(l -> {
      AtomicInteger a = active.get(l.gpu());
      if (a != null) {
        a.incrementAndGet();
      }
    });
    snapshot.waiting().forEach(w -> {
      if (w.gpu() == null) {
        waitingAny.incrementAndGet();
      } else if (waiting.containsKey(w.gpu())) {
        waiting.get(w.gpu()).incrementAndGet();
      }
    });
    return registry.scrape();
  }
}
