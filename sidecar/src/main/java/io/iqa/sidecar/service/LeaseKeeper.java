package io.iqa.sidecar.service;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonObject;
import java.net.InetAddress;
import java.time.Instant;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sidecar's GPU lease: acquired from the broker before any model touches the GPU, renewed at
 * ttl/3, released on shutdown. A renew answered 410 (or no successful renew before the lease's
 * expiry) is a loss, reported once to {@code onLost}. The token never leaves this class and is
 * never logged.
 */
final class LeaseKeeper {

  private static final Logger LOG = LoggerFactory.getLogger(LeaseKeeper.class);

  private final Vertx vertx;
  private final JsonObject conf;
  private final String url;
  private final HttpClient http;
  private final Consumer<String> onLost;
  private String token;
  private JsonObject lease;
  private String state = "none";
  private String reason;
  private long renewTimer = -1;
  private long expiresAtMs;

  LeaseKeeper(Vertx vertx, JsonObject conf, Consumer<String> onLost) {
    this.vertx = vertx;
    this.conf = conf;
    this.url = conf.getString("url").replaceAll("/+$", "");
    this.http = vertx.createHttpClient(new HttpClientOptions().setConnectTimeout(5000).setIdleTimeout(60));
    this.onLost = onLost;
  }

  /** Asks for the lease (waiting up to wait_s). @return the lease's public fields */
  Future<JsonObject> acquire() {
    JsonObject req = new JsonObject()
        .put("owner", conf.getString("owner", "iqa-sidecar"))
        .put("purpose", conf.getString("purpose", "image scoring"))
        .put("ttl_s", conf.getDouble("ttl_s", 60.0))
        .put("wait_s", conf.getDouble("wait_s", 0.0))
        .put("priority", conf.getString("priority", "normal"))
        .put("pid", ProcessHandle.current().pid())
        .put("host", hostName());
    if (conf.getValue("vram_mb") != null) {
      req.put("vram_mb", conf.getInteger("vram_mb"));
    }
    if (conf.getValue("gpu") != null) {
      req.put("gpu", conf.getInteger("gpu"));
    }
    return post("/v1/gpu/lease", req, conf.getDouble("wait_s", 0.0) + 30).compose(reply -> {
      if (reply.status != 200) {
        return Future.failedFuture(reply.status == 409
            ? "the GPU stayed busy for wait_s=" + conf.getDouble("wait_s", 0.0) + " (holders: "
                + reply.body.getJsonArray("holders", new io.vertx.core.json.JsonArray()).stream()
                    .map(h -> ((JsonObject) h).getString("owner")).toList() + ")"
            : "the broker refused the lease: " + reply.status + " " + reply.body.encode());
      }
      token = reply.body.getString("token");
      lease = reply.body.copy();
      lease.remove("token");
      state = "held";
      expiresAtMs = System.currentTimeMillis() + (long) (lease.getDouble("ttl_s") * 1000);
      long every = Math.max(200, (long) (lease.getDouble("ttl_s") * 1000 / 3));
      renewTimer = vertx.setPeriodic(every, t -> renew());
      LOG.info("lease {} granted on gpu {} by {} (ttl {} s, renewed every {} ms)", lease.getLong("lease_id"),
          lease.getInteger("gpu"), url, lease.getDouble("ttl_s"), every);
      return Future.succeededFuture(lease);
    }, err -> Future.failedFuture("broker at " + url + " unreachable: " + err.getMessage()));
  }

  private void renew() {
    if (!"held".equals(state)) {
      return;
    }
    post("/v1/gpu/renew", new JsonObject().put("token", token), 10).onComplete(ar -> {
      if (!"held".equals(state)) {
        return;
      }
      if (ar.succeeded() && ar.result().status == 200) {
        expiresAtMs = System.currentTimeMillis() + (long) (ar.result().body.getDouble("ttl_s") * 1000);
        lease.put("expires_at", ar.result().body.getString("expires_at"));
      } else if (ar.succeeded() && ar.result().status == 410) {
        lost("lease_lost: " + ar.result().body.getString("reason"));
      } else if (System.currentTimeMillis() >= expiresAtMs) {
        lost("could not renew before the lease expired ("
            + (ar.succeeded() ? "broker answered " + ar.result().status : ar.cause().getMessage()) + ")");
      } else {
        LOG.warn("lease renew failed ({}); retrying until it expires at {}",
            ar.succeeded() ? "broker answered " + ar.result().status : ar.cause().getMessage(),
            Instant.ofEpochMilli(expiresAtMs));
      }
    });
  }

  private void lost(String why) {
    state = "lost";
    reason = why;
    cancelRenew();
    LOG.warn("GPU lease {} lost: {}", lease.getLong("lease_id"), why);
    onLost.accept(why);
  }

  /** Releases the lease if held; never fails (the broker may be gone). */
  Future<Void> release() {
    cancelRenew();
    if (!"held".equals(state)) {
      return Future.succeededFuture();
    }
    state = "released";
    return post("/v1/gpu/release", new JsonObject().put("token", token), 5)
        .onSuccess(r -> LOG.info("lease {} released", lease.getLong("lease_id")))
        .onFailure(e -> LOG.warn("could not release lease {}: {} (it will expire after its ttl)",
            lease.getLong("lease_id"), e.getMessage()))
        .<Void>mapEmpty().recover(e -> Future.succeededFuture());
  }

  /** @return the lease as /health shows it: no token */
  JsonObject status() {
    JsonObject s = new JsonObject().put("state", state).put("broker", url);
    if (lease != null) {
      s.put("lease_id", lease.getLong("lease_id")).put("gpu", lease.getInteger("gpu"))
          .put("owner", lease.getString("owner")).put("expires_at", lease.getString("expires_at"));
    }
    if (reason != null) {
      s.put("reason", reason);
    }
    return s;
  }

  Integer gpu() {
    return lease == null ? null : lease.getInteger("gpu");
  }

  void close() {
    cancelRenew();
    http.close();
  }

  private void cancelRenew() {
    if (renewTimer >= 0) {
      vertx.cancelTimer(renewTimer);
      renewTimer = -1;
    }
  }

  private record Reply(int status, JsonObject body) {
  }

  private Future<Reply> post(String path, JsonObject body, double timeoutS) {
    RequestOptions ro = new RequestOptions().setMethod(HttpMethod.POST).setAbsoluteURI(url + path)
        .putHeader("Content-Type", "application/json").setIdleTimeout((long) (timeoutS * 1000));
    String bearer = conf.getString("token");
    if (bearer != null) {
      ro.putHeader("Authorization", "Bearer " + bearer);
    }
    return http.request(ro).compose(req -> req.send(Buffer.buffer(body.encode()))
        .compose(resp -> resp.body().map(b -> new Reply(resp.statusCode(), parse(b)))));
  }

  private static JsonObject parse(Buffer b) {
    try {
      return b.toJsonObject();
    } catch (RuntimeException e) {
      return new JsonObject().put("raw", b.toString());
    }
  }

  private static String hostName() {
    try {
      return InetAddress.getLocalHost().getHostName();
    } catch (Exception e) {
      return "localhost";
    }
  }
}
