package io.iqa.client;

import io.iqa.protocol.ScoreScale;
import io.iqa.protocol.Sha256;
import java.net.http.HttpRequest;
import java.nio.file.Path;
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

/**
 * What the host application calls to score images: the sidecar when it answers, otherwise a
 * one-shot container run ({@link ContainerFallback}); a per-image cache in front of both. Every
 * answer says which path served it. Blocking methods plus {@code *Async} variants; no Vert.x.
 * Thread-safe. Build with {@link #builder()} or {@link ClientConfig#load}.
 */
public final class IqaClient implements AutoCloseable {

  private final SidecarApi sidecar;
  private final ScoreCache cache;
  private final FallbackRoute fallback;
  private final ModelScales scales;
  private final String modelKey;
  private final int concurrency;
  private final ExecutorService pool;

  IqaClient(Builder b) {
    List<String> models = List.copyOf(b.models);
    this.sidecar = new SidecarApi(b.sidecarUrl, b.token, b.timeout, models);
    this.cache = new ScoreCache(b.cacheMaxEntries, b.cacheDir);
    this.modelKey = String.join(",", models);
    this.concurrency = b.concurrency;
    this.pool = Executors.newFixedThreadPool(b.concurrency, r -> {
      Thread t = new Thread(r, "iqa-client");
      t.setDaemon(true);
      return t;
    });
    this.scales = new ModelScales(sidecar);
    this.fallback = new FallbackRoute(b, scales, this::remember, pool);
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
    return cacheOrSidecar(image).exceptionallyCompose(e -> fallback.orFail(e, image));
  }

  private CompletableFuture<ScoreResult> cacheOrSidecar(Path image) {
    return CompletableFuture.supplyAsync(() -> cache.readableSha256(image), pool).thenCompose(sha -> {
      ScoreResult cached = cache.get(sha, modelKey);
      if (cached != null) {
        return CompletableFuture.completedFuture(cached);
      }
      return sidecar.score(() -> HttpRequest.BodyPublishers.ofFile(image)).thenApply(this::remember);
    });
  }

  public CompletableFuture<ScoreResult> scoreAsync(byte[] image) {
    String sha = Sha256.hex(image);
    ScoreResult cached = cache.get(sha, modelKey);
    if (cached != null) {
      return CompletableFuture.completedFuture(cached);
    }
    return sidecar.score(() -> HttpRequest.BodyPublishers.ofByteArray(image))
        .thenApply(this::remember)
        .exceptionallyCompose(e -> fallback.orFail(e, image, sha));
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
        if (FallbackRoute.unreachable(cause)) {
          unserved.add(f.getKey());
          why = cause;
        }
      }
    }
    fallback.scoreUnserved(unserved, why, out);
    return out;
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
          : FallbackRoute.unreachable(e) ? Failure.UNAVAILABLE : Failure.IMAGE;
      return new Outcome(null, e.getMessage(), kind);
    }
  }

  /** @return the sidecar's API: its shutdown, its GPU release and its health, for an operator's tool */
  public SidecarApi sidecar() {
    return sidecar;
  }

  long cachedEntries() {
    return cache.size();
  }

  /**
   * @return what each model's scores mean (range, direction), as the sidecar's {@code /v1/models}
   *     says (asked once) and the container fallback's answers say; empty for a model neither named
   */
  public Map<String, ScoreScale> modelScales() {
    return scales.all();
  }

  private ScoreResult remember(ScoreResult r) {
    cache.put(modelKey, r);
    return r;
  }

  @Override
  public void close() {
    pool.shutdownNow();
    fallback.close();
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

    /** The sidecar's admin token (for {@link SidecarApi#shutdown()} when it has auth). */
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
