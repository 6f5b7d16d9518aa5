package io.iqa.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.handler.BodyHandler;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** A document as the check of requests: what it refuses, and how the refusal reads. */
class OpenApiRequestsTest {

  private static final HttpClient HTTP = HttpClient.newHttpClient();
  private Vertx vertx;
  private OpenApiRequests contract;
  private String base;

  @BeforeEach
  void start() throws Exception {
    vertx = Vertx.vertx();
    // An answer vertx-openapi cannot read (an event stream) and a body it cannot (an image) load all the same.
    contract = OpenApiRequests.load("io/iqa/server/test-openapi.json");
    Router router = Router.router(vertx);
    router.post("/thing").handler(BodyHandler.create())
        .handler(contract.check("thing", ctx -> ctx.body().buffer()))
        .handler(ctx -> Json.send(ctx, 200, new JsonObject().put("ok", true)));
    router.get("/list").handler(contract.check("list", null))
        .handler(ctx -> Json.send(ctx, 200, new JsonObject().put("ok", true)));
    ErrorRenderer.install(router, "test", e -> null);
    HttpServer server = vertx.createHttpServer().requestHandler(router).listen(0, "127.0.0.1")
        .await(10, TimeUnit.SECONDS);
    base = "http://127.0.0.1:" + server.actualPort();
  }

  @AfterEach
  void stop() throws Exception {
    vertx.close().await(10, TimeUnit.SECONDS);
  }

  @Test
  void whatTheDocumentRefusesIsA400NamingTheFieldAndWhatItMayBe() throws Exception {
    String[][] cases = {
        {"{}", "name is required"},
        {"{\"name\":\"A b\"}", "name must match ^[a-z]+$"},
        {"{\"name\":\"a\",\"n\":0}", "n must be at least 1, not 0"},
        {"{\"name\":\"a\",\"n\":11}", "n must be at most 10, not 11"},
        {"{\"name\":\"a\",\"n\":1.5}", "n must be integer, not number"},
        {"{\"name\":\"a\",\"kind\":\"c\"}", "kind must be one of [\"a\", \"b\"]"},
        {"{\"name\":\"a\",\"other\":1}", "unknown field 'other'"},
        {"[1]", "the request body must be object, not array"},
        {"{\"name\":", "the request body is not valid JSON"},
        {"{\"name\":\"a\\u001b[2J\"}", "name must match ^[a-z]+$"},
    };
    for (String[] c : cases) {
      HttpResponse<String> r = post(c[0]);
      assertEquals(400, r.statusCode(), c[0] + " -> " + r.body());
      JsonObject error = new JsonObject(r.body());
      assertEquals("bad_request", error.getString("error"), c[0]);
      assertEquals(c[1], error.getString("message"), c[0]);
    }
    assertEquals(200, post("{\"name\":\"a\",\"n\":null,\"kind\":\"b\"}").statusCode(), "a null is allowed where it says so");
    HttpResponse<String> since = HTTP.send(HttpRequest.newBuilder(URI.create(base + "/list?since=x")).build(),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(400, since.statusCode());
    assertEquals("since must be integer, not string", new JsonObject(since.body()).getString("message"));
    assertEquals(200, HTTP.send(HttpRequest.newBuilder(URI.create(base + "/list?since=3")).build(),
        HttpResponse.BodyHandlers.ofString()).statusCode());
  }

  @Test
  void aJsonBodyTheRouteReadsItselfIsCheckedTheSameWay() {
    assertEquals("ok", contract.jsonCheck("thing").apply(Buffer.buffer("{\"name\":\"ok\"}")).path("name").asText());
    HttpError refused = assertThrows(HttpError.class, () -> contract.jsonCheck("thing").apply(Buffer.buffer("{\"n\":2}")));
    assertEquals(400, refused.refusal().status());
    assertEquals("name is required", refused.getMessage());
    assertThrows(IllegalArgumentException.class, () -> contract.check("nothing", null), "an operation the document lacks");
  }

  private HttpResponse<String> post(String body) throws Exception {
    return HTTP.send(HttpRequest.newBuilder(URI.create(base + "/thing")).header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
  }
}
