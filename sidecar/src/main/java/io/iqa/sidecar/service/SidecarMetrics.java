package io.iqa.sidecar.service;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/** The sidecar's Prometheus metrics. */
final class SidecarMetrics {

  final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final Counter hits = Counter.builder("iqa_cache_hits").description("model scores served from the cache")
      .register(registry);
  private final Counter misses = Counter.builder("iqa_cache_misses").description("model scores computed")
      .register(registry);
  private final Timer infer = Timer.builder("iqa_infer").description("/infer answers, errors included")
      .publishPercentileHistogram().minimumExpectedValue(Duration.ofNanos(100_000))
      .maximumExpectedValue(Duration.ofSeconds(60)).register(registry);
  private final ConcurrentHashMap<String, Counter> images = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<String, DistributionSummary> batches = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<String, Counter> answers = new ConcurrentHashMap<>();
  final AtomicLong hitCount = new AtomicLong();
  final AtomicLong missCount = new AtomicLong();

  void hit() {
    hits.increment();
    hitCount.incrementAndGet();
  }

  void miss() {
    misses.increment();
    missCount.incrementAndGet();
  }

  /** One image scored by the model for a request (the front's warm-up is not counted). */
  void scored(String model) {
    images.computeIfAbsent(model, m -> Counter.builder("iqa_model_images").tag("model", m)
        .description("images scored by the model (cache misses)").register(registry)).increment();
  }

  void batch(String model, int size, long nanos) {
    batches.computeIfAbsent(model, m -> DistributionSummary.builder("iqa_model_batch_size").tag("model", m)
        .description("images per model call").register(registry)).record(size);
    Timer.builder("iqa_model_batch").tag("model", model).description("time of one model call, decoding included")
        .register(registry).record(nanos, TimeUnit.NANOSECONDS);
  }

  void answered(int status, long nanos) {
    infer.record(nanos, TimeUnit.NANOSECONDS);
    answers.computeIfAbsent(Integer.toString(status), s -> Counter.builder("iqa_infer_answers").tag("status", s)
        .description("/infer answers by HTTP status").register(registry)).increment();
  }
}
