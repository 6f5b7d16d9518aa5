package io.iqa.demo;

import io.iqa.broker.BrokerOptions;
import io.iqa.broker.BrokerVerticle;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.concurrent.TimeUnit;

/**
 * {@code scripts/demo}: starts the embedded broker (in-memory store) on a free port and walks two
 * programs through sharing one GPU: a holder, a queued waiter, a hand-off, the status view and the
 * event log. Exits 0 when every step answered as the contract says.
 */
public final class Demo {

  private final HttpClient http;

  private Demo(HttpClient http) {
    this.http = http;
  }

  public static void main(String[] args) throws Exception {
    Vertx vertx = Vertx.vertx();
    int code = 1;
    try {
      BrokerVerticle broker = new BrokerVerticle(new BrokerOptions(BrokerOptions.applyEnv(
          new JsonObject().put("port", 0), System.getenv())).fresh(true));
      vertx.deployVerticle(broker).await(60, TimeUnit.SECONDS);
      System.out.println("embedded lease broker on http://127.0.0.1:" + broker.actualPort()
          + " (in-memory store), gpus " + broker.gpus());
      HttpClient http = vertx.createHttpClient(new HttpClientOptions().setDefaultHost("127.0.0.1")
          .setDefaultPort(broker.actualPort()));
      new Demo(http).run();
      code = 0;
    } catch (Exception e) {
      System.err.println("demo failed: " + e.getMessage());
    } finally {
      vertx.close().await(10, TimeUnit.SECONDS);
    }
    System.exit(code);
  }

  private void run() throws Exception {
    JsonObject sidecar = expect(200, post("/v1/gpu/lease", new JsonObject().put("owner", "iqa-sidecar")
        .put("purpose", "image scoring").put("gpu", 0).put("ttl_s", 30).put("pid", ProcessHandle.current().pid())));
    System.out.printf("1. iqa-sidecar holds gpu 0: lease %d, expires %s (token kept secret by the holder)%n",
        sidecar.getLong("lease_id"), sidecar.getString("expires_at"));

    JsonObject busy = expect(409, post("/v1/gpu/lease", new JsonObject().put("owner", "llm-server").put("gpu", 0)));
    System.out.printf("2. llm-server asks without waiting: %s, queue position %d%n", busy.getString("error"),
        busy.getInteger("queue_position"));

    Future<Answer> waiter = send(HttpMethod.POST, "/v1/gpu/lease", new JsonObject().put("owner", "llm-server")
        .put("purpose", "chat").put("gpu", 0).put("wait_s", 20));
    JsonObject status;
    do {
      Thread.sleep(10);
      status = expect(200, get("/v1/gpu/status"));
    } while (status.getJsonArray("gpus").getJsonObject(0).getJsonArray("waiting").isEmpty());
    System.out.println("3. llm-server waits (wait_s 20); status:");
    printStatus(status);

    expect(200, post("/v1/gpu/renew", new JsonObject().put("token", sidecar.getString("token"))));
    System.out.println("4. iqa-sidecar renews its lease (heartbeat), then releases it");
    long released = System.nanoTime();
    expect(200, post("/v1/gpu/release", new JsonObject().put("token", sidecar.getString("token"))));
    JsonObject llm = expect(200, waiter.await(30, TimeUnit.SECONDS));
    System.out.printf("5. llm-server granted lease %d %.2f ms after the release (no polling)%n",
        llm.getLong("lease_id"), (System.nanoTime() - released) / 1e6);

    JsonObject forced = expect(200, post("/v1/gpu/force_release", new JsonObject().put("owner", "llm-server")
        .put("reason", "demo: operator frees the GPU")));
    System.out.printf("6. operator force-releases llm-server's %d lease(s)%n", forced.getJsonArray("released").size());
    JsonObject lost = expect(410, post("/v1/gpu/renew", new JsonObject().put("token", llm.getString("token"))));
    System.out.printf("7. llm-server's next heartbeat: %s (%s); the GPU stays its own until it stops%n",
        lost.getString("error"), lost.getString("reason"));
    JsonObject confirmed = expect(200, post("/v1/gpu/release", new JsonObject().put("token", llm.getString("token"))));
    System.out.printf("8. llm-server stops and releases (confirms): %s%n", confirmed.encode());

    System.out.println("9. event log:");
    for (Object o : expect(200, get("/v1/gpu/events")).getJsonArray("events")) {
      JsonObject e = (JsonObject) o;
      System.out.printf("   #%d %-15s lease %d %-12s by %s%s%n", e.getLong("seq"), e.getString("type"),
          e.getLong("lease_id"), e.getString("owner"), e.getString("by"),
          e.getString("reason") == null ? "" : " (" + e.getString("reason") + ")");
    }
    System.out.println("demo finished: every answer matched the v1 contract");
  }

  private static void printStatus(JsonObject status) {
    for (Object o : status.getJsonArray("gpus")) {
      JsonObject gpu = (JsonObject) o;
      JsonArray leases = gpu.getJsonArray("leases");
      for (Object l : leases) {
        JsonObject lease = (JsonObject) l;
        System.out.printf("   gpu %d  held by %-12s lease %d  age %.1fs  expires in %.1fs%n", gpu.getInteger("gpu"),
            lease.getString("owner"), lease.getLong("lease_id"), lease.getDouble("age_s"),
            lease.getDouble("expires_in_s"));
      }
      for (Object w : gpu.getJsonArray("waiting")) {
        JsonObject waiting = (JsonObject) w;
        System.out.printf("   gpu %d  waiting:  %-12s for %.2fs%n", gpu.getInteger("gpu"), waiting.getString("owner"),
            waiting.getDouble("waited_s"));
      }
    }
  }

  private record Answer(int status, JsonObject body) {
  }

  private static JsonObject expect(int status, Answer answer) {
    if (answer.status() != status) {
      throw new IllegalStateException("expected HTTP " + status + ", got " + answer.status() + " " + answer.body());
    }
    return answer.body();
  }

  private Answer post(String path, JsonObject body) throws Exception {
    return send(HttpMethod.POST, path, body).await(30, TimeUnit.SECONDS);
  }

  private Answer get(String path) throws Exception {
    return send(HttpMethod.GET, path, null).await(30, TimeUnit.SECONDS);
  }

  private Future<Answer> send(HttpMethod method, String path, JsonObject body) {
    return http.request(new RequestOptions().setMethod(method).setURI(path))
        .compose(req -> (body == null ? req.send() : req.send(Buffer.buffer(body.encode())))
            .compose(resp -> resp.body().map(b -> new Answer(resp.statusCode(), b.toJsonObject()))));
  }
}
