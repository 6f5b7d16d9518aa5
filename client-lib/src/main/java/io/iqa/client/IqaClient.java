package io.iqa.client;

import com.fasterxml.jackson.databind.JsonNode;
import io.iqa.protocol.ScoreScale;
import io.iqa.protocol.Text;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the host application calls to score images: the sidecar when it answers, otherwise a
 * one-shot container run ({@link ContainerFallback}); a per-image cache in front of both. Every
 * answer says which path served it. Blocking methods plus {@code *Async} variants; no Vert.x.
 * Thread-safe. Build with {@link #builder()} or {@link ClientConfig#load}.
 */
public final class IqaClient implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(IqaClient.class);

  private final Http sidecar;
  private final ScoreCache cache;
  private final ContainerFallback fallback;
  /** The fallback's lease client when this client made it (and so closes it). */
  private final LeaseClient ownLeases;
  private final List<String> models;
  private final String modelKey;
  private final int concurrency;
  private final ExecutorService pool;
  private final Map<String, ScoreScale> scales = new java.util.concurrent.ConcurrentHashMap<>();
  private volatile boolean scalesFetched;

  IqaClient(Builder b) {
    this.sidecar = new Http(b.sidecarUrl, b.token, b.timeout);
    this.cache = new ScoreCache(b.cacheMaxEntries, b.cacheDir);
    this.ownLeases = b.fallback != null && b.leases == null && b.brokerUrl != null
        ? new LeaseClient(b.brokerUrl, b.brokerToken, LeaseClient.DEFAULT_SELF_LEASE_MAX_AGE_S) : null;
    this.fallback = b.fallback == null ? null
        : new ContainerFallback(b.fallback, b.leases != null ? b.leases : ownLeases);
    this.models = List.copyOf(b.models);
    this.modelKey = String.join(",", models);
    this.concurrency = b.concurrency;
    this.pool = Executors.newFixedThreadPool(b.concurrency, r -> {
      Thread t = new Thread(r, "iqa-client");
      t.setDaemon(true);
      return t;
    });
  }

  public static Builder builder() {
    return new Builder();
  }

  /** @throws IqaException when neither the sidecar nor the fallback can score it */
  public ScoreResult score(Path image) {
    return Http.join(scoreAsync(image));
  }

  public ScoreResult score(byte[] image) {
    return Http.join(scoreAsync(image));
  }

  public CompletableFuture<ScoreResult> scoreAsync(Path image) {
    return cacheOrSidecar(image)
        .exceptionallyCompose(e -> fallbackOrFail(e, () -> fallbackScore(List.of(image)).get(image)));
  }

  private CompletableFuture<ScoreResult> cacheOrSidecar(Path image) {
    return CompletableFuture.supplyAsync(() -> readableSha256(image), pool).thenCompose(sha -> {
      ScoreResult cached = cache.get(sha, modelKey);
      if (cached != null) {
        return CompletableFuture.completedFuture(cached);
      }
      return sidecarScore(() -> HttpRequest.BodyPublishers.ofFile(image)).thenApply(this::remember);
    });
  }

  /**
   * The file's SHA-256, or a {@link LocalFileException}: a file that is missing, unreadable or not a
   * regular file (a FIFO would block the reader forever) is the file's problem, not the sidecar's.
   */
  private String readableSha256(Path image) {
    String shown = Text.printable(image.toString());
    try {
      if (!Files.readAttributes(image, BasicFileAttributes.class).isRegularFile()) {
        throw new LocalFileException("not a regular file (a folder, a FIFO or a device): " + shown, "not_a_file", null);
      }
      return cache.sha256(image);
    } catch (NoSuchFileException e) {
      throw new LocalFileException("no such file: " + shown, "not_found", e);
    } catch (IOException e) {
      throw new LocalFileException("cannot read " + shown + ": " + Text.printable(e.getMessage()), "unreadable", e);
    }
  }

  public CompletableFuture<ScoreResult> scoreAsync(byte[] image) {
    String sha = Hashing.sha256(image);
    ScoreResult cached = cache.get(sha, modelKey);
    if (cached != null) {
      return CompletableFuture.completedFuture(cached);
    }
    return sidecarScore(() -> HttpRequest.BodyPublishers.ofByteArray(image))
        .thenApply(this::remember)
        .exceptionallyCompose(e -> fallbackOrFail(e, () -> {
          Path dir = Files.createTempDirectory("iqa-client");
          Path file = dir.resolve("image-" + sha.substring(0, 16));
          try {
            Files.write(file, image);
            return fallbackScore(List.of(file)).get(file);
          } finally {
            Files.deleteIfExists(file);
            Files.deleteIfExists(dir);
          }
        }));
  }

  /**
   * Scores many files: from the cache, else through the sidecar, at most {@code concurrency} at a
   * time; every file the sidecar could not take (unreachable, not serving) then goes through the
   * container fallback together, one run per folder, so start-up is paid once.
   * @return path -> outcome (a result, or the error that kept it from one), in input order
   */
  public Map<Path, Outcome> scoreAll(Collection<Path> images) {
    Map<Path, CompletableFuture<ScoreResult>> futures = new LinkedHashMap<>();
    Semaphore permits = new Semaphore(concurrency);
    for (Path p : images) {
      permits.acquireUninterruptibly();
      futures.put(p, cacheOrSidecar(p).whenComplete((r, e) -> permits.release()));
    }
    Map<Path, Outcome> out = new LinkedHashMap<>();
    List<Path> unserved = new ArrayList<>();
    Throwable why = null;
    for (Map.Entry<Path, CompletableFuture<ScoreResult>> f : futures.entrySet()) {
      try {
        out.put(f.getKey(), Outcome.of(f.getValue().join()));
      } catch (CompletionException e) {
        Throwable cause = e.getCause() != null ? e.getCause() : e;
        out.put(f.getKey(), Outcome.failed(cause));
        if (unreachable(cause)) {
          unserved.add(f.getKey());
          why = cause;
        }
      }
    }
    if (!unserved.isEmpty() && fallback != null) {
      LOG.info("sidecar unavailable ({}); scoring {} image(s) through the container fallback", why.getMessage(),
          unserved.size());
      try {
        // Keyed by the paths given, so each image has one outcome: the fallback's replaces the sidecar's.
        fallback.score(unserved).forEach((p, j) -> out.put(p, j.has("error")
            ? new Outcome(null, j.path("error").asText() + ": " + j.path("message").asText(),
                ContainerFallback.BAD_FILE_NAME.equals(j.path("error").asText()) ? Failure.FILE : Failure.IMAGE)
            : Outcome.of(remember(result(j, "container")))));
      } catch (IqaException e) {
        unserved.forEach(p -> out.put(p, new Outcome(null, e.getMessage(), Failure.UNAVAILABLE)));
      }
    }
    return out;
  }

  /** The sidecar cannot serve (unreachable, or 503): the container fallback may. Never for a local file. */
  private static boolean unreachable(Throwable e) {
    return e instanceof IqaException ie && !(e instanceof LocalFileException) && (ie.status() == 0 || ie.status() == 503);
  }

  /** Why an image has no result. */
  public enum Failure {
    /** The image itself was refused (not an image, too large): the sidecar's or the fallback's 4xx. */
    IMAGE,
    /** The file could not be read here (missing, unreadable, not a regular file). */
    FILE,
    /** Neither the sidecar nor a working fallback could be reached. */
    UNAVAILABLE
  }

  /** One image of {@link #scoreAll}: a result, or the error that kept it from one and its kind. */
  public record Outcome(ScoreResult result, String error, Failure failure) {
    static Outcome of(ScoreResult r) {
      return new Outcome(r, null, null);
    }

    static Outcome failed(Throwable e) {
      Failure kind = e instanceof LocalFileException ? Failure.FILE
          : unreachable(e) ? Failure.UNAVAILABLE : Failure.IMAGE;
      return new Outcome(null, e.getMessage(), kind);
    }
  }

  /** Asks the sidecar to shut down (frees its GPU memory and lease). @return its answer */
  public JsonNode shutdownSidecar() {
    return Http.expect(Http.join(sidecar.send("POST", "/shutdown", null, null, null)), "sidecar /shutdown", 202);
  }

  /**
   * Asks the sidecar to give the GPU back now ({@code POST /release}): its worker stops and its
   * lease is released; it keeps serving cached scores and takes the GPU again for the next new
   * image. @return its answer, once the GPU is free
   */
  public JsonNode releaseSidecarGpu() {
    return Http.expect(Http.join(sidecar.send("POST", "/release", null, null, null)), "sidecar /release", 200);
  }

  /** @return the sidecar's /health, or fails when it does not answer */
  public JsonNode sidecarHealth() {
    return Http.expect(Http.join(sidecar.get("/health")), "sidecar /health", 200);
  }

  long cachedEntries() {
    return cache.size();
  }

  private interface Body {
    HttpRequest.BodyPublisher get() throws IOException;
  }

  private interface FallbackCall {
    ScoreResult get() throws IOException;
  }

  private CompletableFuture<ScoreResult> sidecarScore(Body body) {
    String path = models.isEmpty() ? "/infer" : "/infer?models=" + modelKey;
    try {
      return sidecar.send("POST", path, body.get(), "application/octet-stream", null).thenApply(r -> {
        JsonNode j = Http.expect(r, "sidecar /infer", 200);
        return result(j, "sidecar");
      });
    } catch (IOException e) {
      return CompletableFuture.failedFuture(new IqaException("cannot read the image: " + e.getMessage(), e));
    }
  }

  /** Falls back only when the sidecar is unreachable or not serving (503); a 4xx is the image's fault. */
  private CompletableFuture<ScoreResult> fallbackOrFail(Throwable error, FallbackCall call) {
    Throwable e = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
    if (!unreachable(e) || fallback == null) {
      return CompletableFuture.failedFuture(e);
    }
    LOG.info("sidecar unavailable ({}); scoring through the container fallback", e.getMessage());
    return CompletableFuture.supplyAsync(() -> {
      try {
        return remember(call.get());
      } catch (IOException io) {
        throw new IqaException("fallback failed: " + io.getMessage(), io);
      }
    }, pool);
  }

  private Map<Path, ScoreResult> fallbackScore(List<Path> files) {
    Map<Path, ScoreResult> out = new LinkedHashMap<>();
    fallback.score(files).forEach((p, j) -> {
      if (j.has("error")) {
        throw new IqaException("fallback could not score " + p + ": " + j.path("error").asText() + ": "
            + j.path("message").asText(), 0, j.path("error").asText(), null);
      }
      j.path("scales").fields().forEachRemaining(e -> scales.put(e.getKey(), scale(e.getValue())));
      out.put(p, result(j, "container"));
    });
    return out;
  }

  /**
   * @return what each model's scores mean (range, direction), as the sidecar's {@code /v1/models}
   *     says (asked once) and the container fallback's answers say; empty for a model neither named
   */
  public Map<String, ScoreScale> modelScales() {
    if (!scalesFetched) {
      try {
        JsonNode models = Http.expect(Http.join(sidecar.get("/v1/models")), "sidecar /v1/models", 200);
        models.path("models").forEach(m -> scales.put(m.path("name").asText(), scale(m)));
        scalesFetched = true;
      } catch (RuntimeException e) {
        LOG.debug("no model scales from the sidecar: {}", e.getMessage());
      }
    }
    return Map.copyOf(scales);
  }

  /** {@code {"range": [min, max] or null, "higher_is_better": bool}} as the sidecar writes it. */
  static ScoreScale scale(JsonNode j) {
    JsonNode r = j.path("range");
    boolean known = r.isArray() && r.size() == 2;
    return new ScoreScale(known ? r.get(0).asDouble() : null, known ? r.get(1).asDouble() : null,
        j.path("higher_is_better").asBoolean(true));
  }

  private ScoreResult remember(ScoreResult r) {
    cache.put(modelKey, r);
    return r;
  }

  private static ScoreResult result(JsonNode j, String servedBy) {
    Map<String, Double> scores = new LinkedHashMap<>();
    j.path("scores").fields().forEachRemaining(e -> scores.put(e.getKey(), e.getValue().asDouble()));
    return new ScoreResult(j.path("sha256").asText(), scores, servedBy, j.path("device").asText(null));
  }

  @Override
  public void close() {
    pool.shutdownNow();
    if (ownLeases != null) {
      ownLeases.close();
    }
  }

  /** Settings of an {@link IqaClient}; every one has a default. */
  public static final class Builder {
    String sidecarUrl = "http://127.0.0.1:8471";
    String token;
    Duration timeout = Duration.ofSeconds(120);
    long cacheMaxEntries = 100_000;
    Path cacheDir;
    List<String> models = new ArrayList<>();
    int concurrency = 4;
    ContainerFallback.Settings fallback = ContainerFallback.Settings.defaults();
    String brokerUrl = "http://127.0.0.1:8470";
    String brokerToken;
    LeaseClient leases;

    public Builder sidecarUrl(String url) {
      this.sidecarUrl = url;
      return this;
    }

    /** The sidecar's admin token (for {@link #shutdownSidecar()} when it has auth). */
    public Builder token(String t) {
      this.token = t;
      return this;
    }

    public Builder timeout(Duration d) {
      this.timeout = d;
      return this;
    }

    public Builder cacheMaxEntries(long n) {
      this.cacheMaxEntries = n;
      return this;
    }

    /** Persist the cache in this directory (created if missing); null keeps it in memory only. */
    public Builder cacheDir(Path dir) {
      this.cacheDir = dir;
      return this;
    }

    public Builder models(List<String> names) {
      this.models = new ArrayList<>(names);
      return this;
    }

    public Builder concurrency(int n) {
      if (n < 1) {
        throw new IllegalArgumentException("concurrency must be at least 1");
      }
      this.concurrency = n;
      return this;
    }

    /** The container fallback's settings, or null for none (then an unreachable sidecar is an error). */
    public Builder fallback(ContainerFallback.Settings f) {
      this.fallback = f;
      return this;
    }

    /**
     * The broker the container fallback takes its GPU lease from (default {@code http://127.0.0.1:8470});
     * null for none: the fallback then always runs on CPU.
     */
    public Builder brokerUrl(String url, String bearerToken) {
      this.brokerUrl = url;
      this.brokerToken = bearerToken;
      return this;
    }

    /** A lease client of the application's own for the container fallback (it stays the caller's to close). */
    public Builder leases(LeaseClient client) {
      this.leases = client;
      return this;
    }

    public IqaClient build() {
      return new IqaClient(this);
    }
  }
}
