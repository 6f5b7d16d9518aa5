package io.iqa.client;

import io.iqa.client.IqaClient.Failure;
import io.iqa.client.IqaClient.Outcome;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link IqaClient}'s way to the {@link ContainerFallback}: whether a sidecar failure lets it try
 * ({@link #unreachable}), and scoring one image or a batch through it; owns the lease client it made.
 */
final class FallbackRoute implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(FallbackRoute.class);

  /** The fallback, or null when the client has none. */
  private final ContainerFallback fallback;
  /** The fallback's lease client when this client made it (and so closes it). */
  private final LeaseClient ownLeases;
  private final ModelScales scales;
  /** Puts a result in the client's cache and returns it. */
  private final UnaryOperator<ScoreResult> remember;
  private final Executor pool;

  FallbackRoute(IqaClient.Builder b, ModelScales scales, UnaryOperator<ScoreResult> remember, Executor pool) {
    boolean on = b.fallback != null && b.fallback.enabled();
    this.ownLeases = on && b.leases == null && b.brokerUrl != null
        ? new LeaseClient(b.brokerUrl, b.brokerToken, LeaseClient.DEFAULT_SELF_LEASE_MAX_AGE_S) : null;
    this.fallback = !on ? null
        : new ContainerFallback(b.fallback, b.leases != null ? b.leases : ownLeases);
    this.scales = scales;
    this.remember = remember;
    this.pool = pool;
  }

  private interface Call {
    ScoreResult get() throws IOException;
  }

  /** The sidecar cannot serve (unreachable, or 503): the container fallback may. Never for a local file. */
  static boolean unreachable(Throwable e) {
    return e instanceof IqaException ie && !(e instanceof LocalFileException)
        && (ie.status() == 0 || ie.status() == 503);
  }

  /** Scores {@code image} through the fallback when the sidecar's {@code error} allows it, else fails with it. */
  CompletableFuture<ScoreResult> orFail(Throwable error, Path image) {
    return orFail(error, () -> score(List.of(image)).get(image));
  }

  /** {@link #orFail(Throwable, Path)} for an image in memory: the container reads it from a temp file. */
  CompletableFuture<ScoreResult> orFail(Throwable error, byte[] image, String sha) {
    return orFail(error, () -> {
      Path dir = Files.createTempDirectory("iqa-client");
      Path file = dir.resolve("image-" + sha.substring(0, 16));
      try {
        Files.write(file, image);
        return score(List.of(file)).get(file);
      } finally {
        Files.deleteIfExists(file);
        Files.deleteIfExists(dir);
      }
    });
  }

  /**
   * Scores together the files the sidecar could not take ({@code why}: the last reason), one run per
   * folder; each one's outcome in {@code out} becomes the fallback's. Nothing without a fallback.
   */
  void scoreUnserved(List<Path> unserved, Throwable why, Map<Path, Outcome> out) {
    if (unserved.isEmpty() || fallback == null) {
      return;
    }
    LOG.info("sidecar unavailable ({}); scoring {} image(s) through the container fallback", why.getMessage(),
        unserved.size());
    try {
      // Keyed by the paths given, so each image has one outcome: the fallback's replaces the sidecar's.
      fallback.score(unserved).forEach((p, j) -> out.put(p, j.has("error")
          ? new Outcome(null, j.path("error").asText() + ": " + j.path("message").asText(),
              ContainerFallback.BAD_FILE_NAME.equals(j.path("error").asText()) ? Failure.FILE : Failure.IMAGE)
          : Outcome.of(remember.apply(ScoreResult.fromJson(j, "container")))));
    } catch (IqaException e) {
      unserved.forEach(p -> out.put(p, new Outcome(null, e.getMessage(), Failure.UNAVAILABLE)));
    }
  }

  /** Falls back only when the sidecar is unreachable or not serving (503); a 4xx is the image's fault. */
  private CompletableFuture<ScoreResult> orFail(Throwable error, Call call) {
    Throwable e = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
    if (!unreachable(e) || fallback == null) {
      return CompletableFuture.failedFuture(e);
    }
    LOG.info("sidecar unavailable ({}); scoring through the container fallback", e.getMessage());
    return CompletableFuture.supplyAsync(() -> {
      try {
        return remember.apply(call.get());
      } catch (IOException io) {
        throw new IqaException("fallback failed: " + io.getMessage(), io);
      }
    }, pool);
  }

  private Map<Path, ScoreResult> score(List<Path> files) {
    Map<Path, ScoreResult> out = new LinkedHashMap<>();
    fallback.score(files).forEach((p, j) -> {
      if (j.has("error")) {
        throw new IqaException("fallback could not score " + p + ": " + j.path("error").asText() + ": "
            + j.path("message").asText(), 0, j.path("error").asText(), null);
      }
      scales.learn(j);
      out.put(p, ScoreResult.fromJson(j, "container"));
    });
    return out;
  }

  @Override
  public void close() {
    if (ownLeases != null) {
      ownLeases.close();
    }
  }
}
