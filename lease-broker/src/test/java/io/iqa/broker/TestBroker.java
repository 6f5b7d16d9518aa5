package io.iqa.broker;

import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonObject;
import java.util.concurrent.TimeUnit;

/** A real broker on a free loopback port, in its own Vert.x, plus a real HTTP client for it. */
final class TestBroker implements AutoCloseable {

  final Vertx vertx = Vertx.vertx();
  final BrokerVerticle verticle;
  final HttpClient http;
  final int port;

  /** A broker that starts {@code --fresh}: no lease from an earlier run can be alive in a test. */
  TestBroker(JsonObject config) {
    this(config, true);
  }

  /** @param fresh false: the broker starts as after a restart that lost its state (recovery period) */
  TestBroker(JsonObject config, boolean fresh) {
    JsonObject json = config.copy().put("host", "127.0.0.1").put("port", 0);
    verticle = new BrokerVerticle(BrokerOptions.read(json), fresh);
    try {
      vertx.deployVerticle(verticle).await();
    } catch (RuntimeException e) {
      vertx.close();
      throw e;
    }
    port = verticle.actualPort();
    http = vertx.createHttpClient(new HttpClientOptions().setDefaultHost("127.0.0.1").setDefaultPort(port),
        new io.vertx.core.http.PoolOptions().setHttp1MaxSize(64));
  }

  Reply post(String path, Object body) {
    return send(HttpMethod.POST, path, body == null ? null : Buffer.buffer(body.toString()), null);
  }

  Reply post(String path, Object body, String bearer) {
    return send(HttpMethod.POST, path, body == null ? null : Buffer.buffer(body.toString()), bearer);
  }

  Reply get(String path) {
    return send(HttpMethod.GET, path, null, null);
  }

  Reply get(String path, String bearer) {
    return send(HttpMethod.GET, path, null, bearer);
  }

  /** Sends without waiting for the answer (a long-poll waiter). */
  io.vertx.core.Future<Reply> postAsync(String path, Object body) {
    return sendAsync(http, HttpMethod.POST, path, Buffer.buffer(body.toString()), null);
  }

  Reply send(HttpMethod method, String path, Buffer body, String bearer) {
    return await(sendAsync(http, method, path, body, bearer));
  }

  /** Blocks this (non-Vert.x) thread for the result, failing the test after 60 s. */
  static <T> T await(io.vertx.core.Future<T> future) {
    try {
      return future.await(60, TimeUnit.SECONDS);
    } catch (java.util.concurrent.TimeoutException e) {
      StringBuilder dump = new StringBuilder("no answer within 60 s; threads:\n");
      Thread.getAllStackTraces().forEach((t, stack) -> {
        dump.append(t.getName()).append(" ").append(t.getState()).append('\n');
        for (StackTraceElement el : stack) {
          dump.append("    at ").append(el).append('\n');
        }
      });
      System.err.println(dump);
      throw new AssertionError("no answer within 60 s (thread dump on stderr)", e);
    }
  }

  static io.vertx.core.Future<Reply> sendAsync(HttpClient http, HttpMethod method, String path, Buffer body,
      String bearer) {
    RequestOptions ro = new RequestOptions().setMethod(method).setURI(path);
    if (bearer != null) {
      ro.putHeader("Authorization", "Bearer " + bearer);
    }
    if (body != null) {
      ro.putHeader("Content-Type", "application/json");
    }
    // body() is asked for in the same callback that delivers the response: chained as a separate
    // compose step from a non-Vert.x thread, the body can arrive before its handler is set.
    return http.request(ro)
        .compose(req -> (body == null ? req.send() : req.send(body))
            .compose(resp -> resp.body().map(b -> new Reply(resp.statusCode(), b, resp.getHeader("Content-Type")))));
  }

  /** An open lease watch: its server-sent events as they arrive. */
  static final class Watch {
    final int status;
    final java.util.concurrent.BlockingQueue<JsonObject> events = new java.util.concurrent.LinkedBlockingQueue<>();
    final io.vertx.core.Promise<Void> ended = io.vertx.core.Promise.promise();
    private final StringBuilder pending = new StringBuilder();

    Watch(int status) {
      this.status = status;
    }

    /** Each complete frame becomes {"event": name, "data": {...}}. */
    synchronized void feed(Buffer chunk) {
      pending.append(chunk.toString());
      int cut;
      while ((cut = pending.indexOf("\n\n")) >= 0) {
        String frame = pending.substring(0, cut);
        pending.delete(0, cut + 2);
        String event = null;
        String data = null;
        for (String line : frame.split("\n")) {
          if (line.startsWith("event: ")) {
            event = line.substring(7);
          } else if (line.startsWith("data: ")) {
            data = line.substring(6);
          }
        }
        if (event != null) {
          events.add(new JsonObject().put("event", event).put("data", new JsonObject(data)));
        }
      }
    }

    /** The next event, or fails after {@code ms}. */
    JsonObject next(long ms) {
      try {
        JsonObject e = events.poll(ms, TimeUnit.MILLISECONDS);
        if (e == null) {
          throw new AssertionError("no watch event within " + ms + " ms");
        }
        return e;
      } catch (InterruptedException e) {
        throw new AssertionError(e);
      }
    }
  }

  /** Opens {@code GET /v1/gpu/lease/watch} for a lease token; a non-200 answer has no events. */
  Watch watch(String leaseToken) {
    RequestOptions ro = new RequestOptions().setMethod(HttpMethod.GET).setURI("/v1/gpu/lease/watch");
    if (leaseToken != null) {
      ro.putHeader("Lease-Token", leaseToken);
    }
    return await(http.request(ro).compose(req -> req.send().map(resp -> {
      Watch w = new Watch(resp.statusCode());
      resp.handler(w::feed);
      resp.endHandler(v -> w.ended.tryComplete());
      resp.exceptionHandler(e -> w.ended.tryComplete());
      return w;
    })));
  }

  /** Waits until the status view shows {@code n} waiters, or fails after 10 s. */
  void awaitWaiting(int n) {
    long deadline = System.nanoTime() + 10_000_000_000L;
    int seen = -1;
    while (System.nanoTime() < deadline) {
      JsonObject status = get("/v1/gpu/status").json();
      seen = status.getJsonArray("gpus").stream()
          .mapToInt(g -> ((JsonObject) g).getJsonArray("waiting").size()).max().orElse(0);
      if (seen == n) {
        return;
      }
      sleep(20);
    }
    throw new AssertionError("expected " + n + " waiter(s), status shows " + seen);
  }

  static void sleep(long ms) {
    io.iqa.testkit.Pauses.sleep(ms);
  }

  /**
   * Renews {@code lease} every 50 ms while the broker answers {@code status}, for up to {@code
   * withinMs}. @return the first other answer, or the last one when time ran out (the caller's
   * assertion shows it)
   */
  Reply renewWhile(JsonObject lease, int status, long withinMs) {
    JsonObject body = new JsonObject().put("token", lease.getString("token"));
    java.util.concurrent.atomic.AtomicReference<Reply> last = new java.util.concurrent.atomic.AtomicReference<>();
    try {
      org.awaitility.Awaitility.await().pollInterval(java.time.Duration.ofMillis(50))
          .atMost(java.time.Duration.ofMillis(withinMs)).until(() -> {
            last.set(post("/v1/gpu/renew", body));
            return last.get().status() != status;
          });
    } catch (org.awaitility.core.ConditionTimeoutException e) {
      // the caller asserts on the last answer
    }
    return last.get();
  }

  /** Acquires a lease and asserts it was granted. */
  JsonObject lease(JsonObject request) {
    return lease(request, null);
  }

  /** @param bearer the token to call with (auth on), or null */
  JsonObject lease(JsonObject request, String bearer) {
    Reply r = post("/v1/gpu/lease", request, bearer);
    if (r.status() != 200) {
      throw new AssertionError("expected a grant for " + request.encode() + ", got " + r);
    }
    return r.json();
  }

  @Override
  public void close() {
    try {
      http.close().await(10, TimeUnit.SECONDS);
      vertx.close().await(10, TimeUnit.SECONDS);
    } catch (Exception e) {
      throw new AssertionError("broker did not close", e);
    }
  }

  record Reply(int status, Buffer body, String contentType) {
    JsonObject json() {
      try {
        return body.toJsonObject();
      } catch (RuntimeException e) {
        throw new AssertionError("not a JSON object (status " + status + "): " + body, e);
      }
    }

    @Override
    public String toString() {
      return status + " " + body;
    }
  }
}
