package io.iqa.client;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The broker's client: acquire self-renewing {@link Lease}s, read the status, force-release.
 * Before acquiring it heals itself as the old pipeline did: this owner's own leases older than
 * {@code selfLeaseMaxAgeS} (default 240) are force-released first (another owner's never are).
 */
public final class LeaseClient implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(LeaseClient.class);
  public static final double DEFAULT_SELF_LEASE_MAX_AGE_S = 240;

  private final Http http;
  private final double selfLeaseMaxAgeS;
  private final ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "iqa-lease-renewal");
    t.setDaemon(true);
    return t;
  });

  /**
   * @param brokerUrl e.g. {@code http://127.0.0.1:8470}
   * @param token bearer token when the broker has auth, else null
   * @param selfLeaseMaxAgeS own leases older than this are released before acquiring (0 = never)
   */
  public LeaseClient(String brokerUrl, String token, double selfLeaseMaxAgeS) {
    this.http = new Http(brokerUrl, token, Duration.ofSeconds(30));
    this.selfLeaseMaxAgeS = selfLeaseMaxAgeS;
  }

  public LeaseClient(String brokerUrl) {
    this(brokerUrl, null, DEFAULT_SELF_LEASE_MAX_AGE_S);
  }

  /** Blocks until granted. @throws IqaException {@code gpu_busy} (409) when not granted within wait_s */
  public Lease acquire(LeaseRequest request) {
    return Http.join(acquireAsync(request));
  }

  public CompletableFuture<Lease> acquireAsync(LeaseRequest request) {
    return selfHeal(request.owner()).thenCompose(v -> {
      ObjectNode body = Http.object().put("owner", request.owner()).put("purpose", request.purpose())
          .put("ttl_s", request.ttlS()).put("wait_s", request.waitS()).put("priority", request.priority());
      if (request.gpu() != null) {
        body.put("gpu", request.gpu());
      }
      if (request.vramMb() != null) {
        body.put("vram_mb", request.vramMb());
      }
      if (request.pid() != null) {
        body.put("pid", request.pid());
      }
      return http.postJson("/v1/gpu/lease", body);
    }).thenApply(r -> new Lease(http, Http.expect(r, "lease for '" + request.owner() + "'", 200), scheduler));
  }

  /** @return the broker's /v1/gpu/status */
  public JsonNode status() {
    return Http.expect(Http.join(http.get("/v1/gpu/status")), "status", 200);
  }

  /**
   * Ends leases: one by {@code leaseId}, or all of {@code owner}'s (optionally only those older than
   * {@code olderThanS}). @return the released leases (public view)
   */
  public List<JsonNode> forceRelease(Long leaseId, String owner, Double olderThanS, String reason) {
    ObjectNode body = Http.object().put("reason", reason == null ? "force-released by iqa client" : reason);
    if (leaseId != null) {
      body.put("lease_id", leaseId);
    }
    if (owner != null) {
      body.put("owner", owner);
    }
    if (olderThanS != null) {
      body.put("older_than_s", olderThanS);
    }
    JsonNode answer = Http.expect(Http.join(http.postJson("/v1/gpu/force_release", body)), "force_release", 200);
    List<JsonNode> released = new ArrayList<>();
    answer.path("released").forEach(released::add);
    return released;
  }

  private CompletableFuture<Void> selfHeal(String owner) {
    if (selfLeaseMaxAgeS <= 0) {
      return CompletableFuture.completedFuture(null);
    }
    return http.get("/v1/gpu/status").thenCompose(r -> {
      boolean stale = false;
      for (JsonNode gpu : r.body().path("gpus")) {
        for (JsonNode l : gpu.path("leases")) {
          stale |= owner.equals(l.path("owner").asText()) && l.path("age_s").asDouble() > selfLeaseMaxAgeS;
        }
      }
      if (!stale) {
        return CompletableFuture.completedFuture(null);
      }
      ObjectNode body = Http.object().put("owner", owner).put("older_than_s", selfLeaseMaxAgeS)
          .put("reason", "self-heal: '" + owner + "' releases its own leases older than " + selfLeaseMaxAgeS + " s");
      return http.postJson("/v1/gpu/force_release", body).thenAccept(fr -> {
        if (fr.status() == 200) {
          LOG.info("self-heal released {} old lease(s) of '{}'", fr.body().path("released").size(), owner);
        } else {
          LOG.warn("self-heal could not release old leases of '{}': {}", owner, fr.body());
        }
      });
    });
  }

  @Override
  public void close() {
    scheduler.shutdownNow();
  }
}
