package io.iqa.client;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.iqa.protocol.wire.ForceReleaseRequest;
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
 * owner's own leases older than {@code selfLeaseMaxAgeS} (default 240) whose holder is gone (no pid,
 * or a pid of this host that no longer runs) are force-released first; a lease whose holder process
 * runs is never touched, nor is another owner's. {@link #close()} releases every lease still open.
 */
public final class LeaseClient implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(LeaseClient.class);
  public static final double DEFAULT_SELF_LEASE_MAX_AGE_S = 240;
  private final Http http;
  /** Added to {@code wait_s} for the HTTP timeout of an acquire: the broker answers when the wait runs out. */
  private final Duration callTimeout;
  private final double selfLeaseMaxAgeS;
  private final Set<Lease> open = ConcurrentHashMap.newKeySet();
  /** Set by {@link #close()}: a grant that arrives later is released at once, never left held. */
  private boolean closed;
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
        synchronized (open) {
          if (!closed) {
            open.add(self[0]);
            return self[0].start();
          }
        }
        // Granted after close(): nobody will hold it, so it goes back at once.
        self[0].close("client closed");
        throw new IqaException("lease " + self[0].id() + " for '" + request.owner() + "' was granted after the lease "
            + "client was closed; it was released at once");
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
    ObjectNode body = Http.body(new ForceReleaseRequest(leaseId, owner, olderThanS,
        reason == null ? "force-released by iqa client" : reason, immediate ? true : null));
    JsonNode answer = Http.expect(Http.join(http.postJson("/v1/gpu/force_release", body)), "force_release", 200);
    List<JsonNode> released = new ArrayList<>();
    answer.path("released").forEach(released::add);
    return released;
  }

  /**
   * Revokes this owner's own leases older than {@code selfLeaseMaxAgeS} whose holder is not known to
   * be alive: one without a pid, or whose pid on this host no longer runs. A lease whose holder
   * process runs (here, or on another host, where this client cannot tell) is never touched: two
   * runs of one owner, the second waiting for the first, must not revoke each other.
   */
  private CompletableFuture<Void> selfHeal(String owner) {
    if (selfLeaseMaxAgeS <= 0) {
      return CompletableFuture.completedFuture(null);
    }
    return http.get("/v1/gpu/status").thenCompose(r -> {
      List<Long> stale = new ArrayList<>();
      for (JsonNode gpu : r.body().path("gpus")) {
        for (JsonNode node : gpu.path("leases")) {
          LeaseView l = io.iqa.protocol.wire.WireJson.fromTree(node, LeaseView.class);
          if (owner.equals(l.owner()) && l.ageS() != null && l.ageS() > selfLeaseMaxAgeS
              && l.state() != LeaseState.REVOKING && holderGone(l)) {
            stale.add(l.leaseId());
          }
        }
      }
      CompletableFuture<Void> all = CompletableFuture.completedFuture(null);
      for (long id : stale) {
        ObjectNode body = Http.body(new ForceReleaseRequest(id, owner, null, "self-heal: '" + owner
            + "' revokes its own lease older than " + selfLeaseMaxAgeS + " s whose holder is gone", null));
        all = all.thenCompose(v -> http.postJson("/v1/gpu/force_release", body).thenAccept(fr -> {
          if (fr.status() == 200) {
            LOG.info("self-heal revoked lease {} of '{}' (older than {} s, holder gone)", id, owner, selfLeaseMaxAgeS);
          } else {
            LOG.warn("self-heal could not revoke lease {} of '{}': {}", id, owner, fr.body());
          }
        }));
      }
      return all;
    });
  }

  /** @return whether the lease's holder is known not to run: no pid at all, or a pid of this host that is gone */
  private static boolean holderGone(LeaseView l) {
    if (l.pid() == null) {
      return true;
    }
    boolean here = l.host() == null || l.host().equalsIgnoreCase(HOST) || l.host().equals("localhost");
    return here && ProcessHandle.of(l.pid()).map(h -> !h.isAlive()).orElse(true);
  }

  /**
   * Stops every renewal and watch at once and releases nothing, as if this process had died: for
   * tests that play a killed holder.
   */
  void halt() {
    List<Lease> held;
    synchronized (open) {
      closed = true;
      held = List.copyOf(open);
    }
    scheduler.shutdownNow();
    held.forEach(Lease::halt);
  }

  /** Releases every lease still open (and any granted from now on), then stops the renewals. */
  @Override
  public void close() {
    List<Lease> held;
    synchronized (open) {
      closed = true;
      held = List.copyOf(open);
    }
    held.forEach(Lease::close);
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
