package io.iqa.client;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.iqa.protocol.wire.LeaseRequest;
import io.iqa.protocol.wire.LeaseState;
import io.iqa.protocol.wire.LeaseView;
import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The broker's client, and the only lease client of the project: the sidecar, the {@code iqa}
 * command line, the container fallback and host applications all hold GPUs through it. Acquire
 * {@link Lease}s (waiting as long as the request's {@code wait_s}: the HTTP call waits with it),
 * read the status, force-release. Before acquiring it heals itself as the old pipeline did: this
 * owner's own leases older than {@code selfLeaseMaxAgeS} (default 240) are force-released first
 * (another owner's never are); like any force-release that revokes them, so their holders, if
 * alive, are told to stop. {@link #close()} releases every lease still open.
 */
public final class LeaseClient implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(LeaseClient.class);
  public static final double DEFAULT_SELF_LEASE_MAX_AGE_S = 240;
  private final Http http;
  /** Added to {@code wait_s} for the HTTP timeout of an acquire: the broker answers when the wait runs out. */
  private final Duration callTimeout;
  private final double selfLeaseMaxAgeS;
  private final Set<Lease> open = ConcurrentHashMap.newKeySet();
  private final ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "iqa-lease");
    t.setDaemon(true);
    return t;
  });

  /**
   * @param brokerUrl e.g. {@code http://127.0.0.1:8470}
   * @param token bearer token when the broker has auth, else null
   * @param selfLeaseMaxAgeS own leases older than this are released before acquiring (0 = never)
   */
  public LeaseClient(String brokerUrl, String token, double selfLeaseMaxAgeS) {
    this(brokerUrl, token, selfLeaseMaxAgeS, Duration.ofSeconds(30));
  }

  /** @param callTimeout how long any call but an acquire may take (an acquire takes its wait_s + 30 s) */
  LeaseClient(String brokerUrl, String token, double selfLeaseMaxAgeS, Duration callTimeout) {
    this.http = new Http(brokerUrl, token, callTimeout);
    this.callTimeout = callTimeout;
    this.selfLeaseMaxAgeS = selfLeaseMaxAgeS;
  }

  public LeaseClient(String brokerUrl) {
    this(brokerUrl, null, DEFAULT_SELF_LEASE_MAX_AGE_S);
  }

  /** @return the broker's base URL */
  public String brokerUrl() {
    return http.base();
  }

  /**
   * Blocks until granted or the request's {@code wait_s} ran out.
   * @throws IqaException {@code gpu_busy} (409) when not granted within wait_s; status 0 when the
   *     broker is unreachable
   */
  public Lease acquire(LeaseRequest request) {
    return Http.join(acquireAsync(request));
  }

  public CompletableFuture<Lease> acquireAsync(LeaseRequest request) {
    return selfHeal(request.owner()).thenCompose(v -> {
      LeaseRequest asked = request.pid() != null && request.host() == null ? request.withHost(HOST) : request;
      ObjectNode body = Http.JSON.valueToTree(asked.toMap());
      long sent = System.nanoTime();
      Duration timeout = Duration.ofMillis((long) (request.waitS() * 1000)).plus(callTimeout);
      return http.postJson("/v1/gpu/lease", body, timeout).thenApply(r -> {
        JsonNode granted = Http.expect(r, "lease for '" + request.owner() + "'", 200);
        Lease[] self = new Lease[1];
        self[0] = new Lease(http, scheduler, granted, sent, () -> open.remove(self[0]));
        open.add(self[0]);
        return self[0].start();
      });
    });
  }

  /** @return the broker's /v1/gpu/status */
  public JsonNode status() {
    return Http.expect(Http.join(http.get("/v1/gpu/status")), "status", 200);
  }

  /** @return the broker's /v1/gpu/events: the recent lease history, oldest first */
  public JsonNode events() {
    return Http.expect(Http.join(http.get("/v1/gpu/events")), "events", 200);
  }

  /**
   * Revokes leases: one by {@code leaseId}, or all of {@code owner}'s (optionally only those older
   * than {@code olderThanS}). Their holders are told to stop; each GPU is handed on when its holder
   * releases, or at its expires_at; {@code immediate} (admins only) hands it on at once.
   * @return the leases affected (public view)
   */
  public List<JsonNode> forceRelease(Long leaseId, String owner, Double olderThanS, String reason, boolean immediate) {
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
    if (immediate) {
      body.put("immediate", true);
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
        for (JsonNode node : gpu.path("leases")) {
          LeaseView l = LeaseView.fromMap(Http.map(node));
          stale |= owner.equals(l.owner()) && l.ageS() != null && l.ageS() > selfLeaseMaxAgeS
              && l.state() != LeaseState.REVOKING;
        }
      }
      if (!stale) {
        return CompletableFuture.completedFuture(null);
      }
      ObjectNode body = Http.object().put("owner", owner).put("older_than_s", selfLeaseMaxAgeS)
          .put("reason", "self-heal: '" + owner + "' revokes its own leases older than " + selfLeaseMaxAgeS + " s");
      return http.postJson("/v1/gpu/force_release", body).thenAccept(fr -> {
        if (fr.status() == 200) {
          LOG.info("self-heal revoked {} old lease(s) of '{}'", fr.body().path("released").size(), owner);
        } else {
          LOG.warn("self-heal could not revoke old leases of '{}': {}", owner, fr.body());
        }
      });
    });
  }

  /**
   * Stops every renewal and watch at once and releases nothing, as if this process had died: for
   * tests that play a killed holder.
   */
  void halt() {
    scheduler.shutdownNow();
    for (Lease lease : List.copyOf(open)) {
      lease.halt();
    }
  }

  /** Releases every lease still open, then stops the renewals. */
  @Override
  public void close() {
    for (Lease lease : List.copyOf(open)) {
      lease.close();
    }
    scheduler.shutdownNow();
  }

  private static final String HOST = hostName();

  private static String hostName() {
    try {
      return InetAddress.getLocalHost().getHostName();
    } catch (Exception e) {
      return "localhost";
    }
  }
}
