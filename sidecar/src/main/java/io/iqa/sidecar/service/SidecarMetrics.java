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
  private final ConcurrentHashMap<String, Timer> stages = new ConcurrentHashMap<>();
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

  /** One model call of {@code size} images: its time, and each image's share of it ({@code model} stage). */
  void batch(String model, int size, long nanos) {
    for (int i = 0; i < size; i++) {
      stage("model", nanos / Math.max(1, size));
    }
    batches.computeIfAbsent(model, m -> DistributionSummary.builder("iqa_model_batch_size").tag("model", m)
        .description("images per model call").register(registry)).record(size);
    Timer.builder("iqa_model_batch").tag("model", model).description("time of one model call, decoding included")
        .register(registry).record(nanos, TimeUnit.NANOSECONDS);
  }

  /**
   * Where a cache miss's time goes, per image: {@code hash} (the front hashes the body),
   * {@code front_queue} (waiting in the front for a worker), {@code decode} (in the worker),
   * {@code batch_wait} (waiting for its model's batch), {@code model} (its share of the model call:
   * the call's time over its size), {@code worker} (from sending the image to the worker to its
   * last model's result). One timer, {@code iqa_infer_stage_seconds{stage}}, so that a benchmark reads
   * the means from {@code /metrics}.
   */
  void stage(String stage, long nanos) {
    stages.computeIfAbsent(stage, s -> Timer.builder("iqa_infer_stage").tag("stage", s)
        .description("time of one stage of an image's scoring (cache misses)").register(registry))
        .record(Math.max(0, nanos), TimeUnit.NANOSECONDS);
  }

  void answered(int status, long nanos) {
    infer.record(nanos, TimeUnit.NANOSECONDS);
    answers.computeIfAbsent(Integer.toString(status), s -> Counter.builder("iqa_infer_answers").tag("status", s)
        .description("/infer answers by HTTP status").register(registry)).increment();
  }
}
