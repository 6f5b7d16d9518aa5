package io.iqa.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.testkit.RawHttp;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * server-kit on its own, with a real server on a free port and raw sockets: the timeouts close or
 * answer what a slow or silent client holds, the limits answer with their code, and every failure
 * a route can meet (its own error, an exception, a route that does not exist) is the v1 JSON shape.
 */
class GuardedServerTest {

  private static final long HEADER_MS = 400;
  private static final long BODY_MS = 500;
  private static final int MAX_BODY = 1000;
  private static Vertx vertx;
  private static HttpServer server;

  @BeforeAll
  static void start() throws Exception {
    vertx = Vertx.vertx();
    Router router = Router.router(vertx);
    router.get("/health").handler(ctx -> Json.send(ctx, 200, new JsonObject().put("status", "ok")));
    router.post("/echo").handler(ctx -> BodyReader.read(ctx.request(), MAX_BODY, true, null, "request body")
        .onSuccess(b -> Json.send(ctx, 200, new JsonObject().put("bytes", b.bytes().length).put("sha256", b.sha256())))
        .onFailure(ctx::fail));
    router.get("/refuse").handler(ctx -> ctx.fail(HttpError.badRequest("no: refused by the route")));
    router.get("/boom").handler(ctx -> {
      throw new IllegalStateException("a bug in a route");
    });
    ErrorRenderer.install(router, "test server", null);
    ServerLimits limits = new ServerLimits(HEADER_MS, 1500, BODY_MS, 3, 256, 1024);
    server = GuardedServer.listen(vertx, router, new Listening("127.0.0.1", 0, limits, RequestPolicy.defaults()))
        .await(10, TimeUnit.SECONDS);
  }

  @AfterAll
  static void stop() throws Exception {
    vertx.close().await(10, TimeUnit.SECONDS);
  }

  private static RawHttp connect() throws Exception {
    return new RawHttp(server.actualPort());
  }

  private static JsonObject error(RawHttp.Answer a, int status, String code) {
    assertEquals(status, a.status(), a.head() + a.body());
    assertTrue(a.head().toLowerCase().contains("content-type: application/json"), a.head());
    JsonObject body = new JsonObject(a.body());
    assertEquals(code, body.getString("error"), a.body());
    assertTrue(!body.getString("message", "").isBlank(), a.body());
    return body;
  }

  @Test
  void aSilentConnectionAndAHeadThatNeverEndsAreClosedAtTheHeaderTimeout() throws Exception {
    try (RawHttp silent = connect(); RawHttp half = connect()) {
      half.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"); // no blank line: the head never ends
      long a = silent.millisUntilClosed(5000);
      long b = half.millisUntilClosed(5000);
      assertTrue(a >= 0 && a < 3000, "a silent connection must be closed, after " + a + " ms");
      assertTrue(b >= 0 && b < 3000, "a head that never ends must be closed, after " + b + " ms");
    }
  }

  @Test
  void aBodyThatDoesNotArriveGets408AndOneOverTheLimit413() throws Exception {
    try (RawHttp slow = connect()) {
      slow.send("POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
          + "Content-Length: 100\r\n\r\n0123456789");
      error(slow.read(), 408, "request_timeout");
    }
    try (RawHttp big = connect()) {
      big.send("POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
          + "Content-Length: " + (MAX_BODY + 1) + "\r\n\r\n");
      JsonObject e = error(big.read(), 413, "too_large");
      assertTrue(e.getString("message").contains(Integer.toString(MAX_BODY)), e.encode());
    }
    try (RawHttp fine = connect()) {
      byte[] body = "x".repeat(MAX_BODY).getBytes(StandardCharsets.US_ASCII);
      fine.send("POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
          + "Content-Length: " + body.length + "\r\n\r\n").send(body);
      RawHttp.Answer ok = fine.read();
      assertEquals(200, ok.status(), ok.body());
      assertEquals(MAX_BODY, new JsonObject(ok.body()).getInteger("bytes"));
    }
  }

  @Test
  void anOverLongRequestLineOrHeadIsAnsweredWithItsCode() throws Exception {
    try (RawHttp c = connect()) {
      c.send("GET /" + "a".repeat(400) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
      error(c.read(), 414, "uri_too_long");
    }
    try (RawHttp c = connect()) {
      c.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + "b".repeat(2000) + "\r\n\r\n");
      error(c.read(), 431, "headers_too_large");
    }
  }

  @Test
  void everyFailureIsTheJsonShapeAndA500SaysNothingOfItsCause() throws Exception {
    try (RawHttp c = connect()) {
      c.send("GET /refuse HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
      JsonObject e = error(c.read(), 400, "bad_request");
      c.send("GET /boom HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
      JsonObject boom = error(c.read(), 500, "internal");
      assertTrue(boom.getString("message").contains("see the test server log")
          && !boom.getString("message").contains("a bug in a route"), "no internals in the answer: " + boom);
      c.send("GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
      error(c.read(), 404, "not_found");
      assertTrue(e.getString("message").startsWith("no: "), e.encode());
    }
  }

  @Test
  void beyondMaxConnectionsOnlyHealthIsAnswered() throws Exception {
    List<RawHttp> held = new ArrayList<>();
    try {
      for (int i = 0; i < 3; i++) {
        RawHttp c = connect();
        c.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        assertEquals(200, c.read().status());
        held.add(c);
      }
      try (RawHttp extra = connect()) {
        extra.send("GET /refuse HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        error(extra.read(), 503, "overloaded");
      }
      try (RawHttp extra = connect()) {
        extra.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        assertEquals(200, extra.read().status(), "health is answered even beyond the limit");
      }
    } finally {
      for (RawHttp c : held) {
        c.close();
      }
    }
  }
}
