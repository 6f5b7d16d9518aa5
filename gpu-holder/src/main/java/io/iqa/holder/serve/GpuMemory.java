package io.iqa.holder.serve;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.time.Instant;

/**
 * Whether a sleeping server really let go of the GPU: the broker's observation (nvidia-smi's
 * processes, attributed to leases) for the front's lease, sampled after the sleep, must show at
 * most the adapter's residue. Where the broker observes nothing (no nvidia-smi), the adapter's own
 * word is all there is, and the answer says so.
 */
final class GpuMemory {

  /** What a check found: {@code observedMb} null when nothing could be observed. */
  record Seen(boolean verified, Integer observedMb, String how) {
  }

  private final Vertx vertx;
  private final UpstreamHttp broker;

  GpuMemory(Vertx vertx, String brokerUrl, String token) {
    this.vertx = vertx;
    this.broker = new UpstreamHttp(vertx, URI.create(brokerUrl), token);
  }

  /**
   * Completes once a sample taken after {@code since} shows lease {@code leaseId} at most {@code
   * residueMb}, or at once (not verified) when the broker observes no GPU memory; fails after
   * {@code timeoutMs} with what it saw last.
   */
  Future<Seen> awaitAtMost(long leaseId, int gpu, int residueMb, Instant since, long timeoutMs) {
    Promise<Seen> done = Promise.promise();
    long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
    String[] last = {"no sample yet"};
    Runnable[] step = new Runnable[1];
    step[0] = () -> broker.get("/v1/gpu/status", 5000).onComplete(ar -> {
      if (ar.succeeded() && ar.result().ok()) {
        JsonObject g = gpu(ar.result().json(), gpu);
        JsonObject observed = g == null ? null : g.getJsonObject("observed");
        if (observed == null || observed.getString("error") != null) {
          done.tryComplete(new Seen(false, null, observed == null
              ? "not verified: the broker observes no GPU memory (no nvidia-smi); the adapter's word was taken"
              : "not verified: the broker's nvidia-smi failed (" + observed.getString("error") + ")"));
          return;
        }
        String at = observed.getString("at");
        if (at != null && Instant.parse(at).isAfter(since)) {
          Integer used = leaseUsed(g, leaseId);
          int mb = used == null ? 0 : used;
          last[0] = mb + " MiB observed at " + at;
          if (mb <= residueMb) {
            done.tryComplete(new Seen(true, mb, "verified: " + mb + " MiB observed on gpu " + gpu
                + " after the sleep (residue allowed: " + residueMb + " MiB)"));
            return;
          }
        }
      } else {
        last[0] = ar.failed() ? "broker unreachable: " + ar.cause().getMessage() : "broker answered " + ar.result();
      }
      if (System.nanoTime() > deadline) {
        done.tryFail("the server's GPU memory did not fall to " + residueMb + " MiB within " + timeoutMs + " ms ("
            + last[0] + ")");
      } else {
        vertx.setTimer(100, t -> step[0].run());
      }
    });
    step[0].run();
    return done.future();
  }

  private static JsonObject gpu(JsonObject status, int gpu) {
    for (Object o : status.getJsonArray("gpus", new JsonArray())) {
      if (o instanceof JsonObject g && g.getInteger("gpu", -1) == gpu) {
        return g;
      }
    }
    return null;
  }

  private static Integer leaseUsed(JsonObject gpu, long leaseId) {
    for (Object o : gpu.getJsonArray("leases", new JsonArray())) {
      if (o instanceof JsonObject l && l.getLong("lease_id", -1L) == leaseId) {
        return l.getInteger("observed_vram_mb");
      }
    }
    return null;
  }

  void close() {
    broker.close();
  }
}
