package io.iqa.sidecar.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.iqa.testkit.OpenApiContract;
import io.iqa.protocol.Sha256;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The sidecar's real answers, success and failure, against its served OpenAPI document. */
class SidecarOpenApiTest {

  private static final HttpClient HTTP = HttpClient.newHttpClient();

  @TempDir
  Path dir;

  @Test
  void everyAnswerIsWhatTheDocumentSays() throws Exception {
    OpenApiContract api = OpenApiContract.load("io/iqa/sidecar/openapi.json");
    Vertx vertx = Vertx.vertx();
    try {
      SidecarVerticle sidecar = new SidecarVerticle(SidecarOptions.read(new JsonObject().put("port", 0)
          .put("auth", new JsonObject().put("admin_token_sha256", Sha256.hex("admin-secret")))
          .put("models", new JsonArray().add(new JsonObject().put("name", "tech_sharpness").put("backend", "builtin")))),
          dir);
      SidecarServiceTest.await(vertx.deployVerticle(sidecar));
      String base = "http://127.0.0.1:" + sidecar.actualPort();
      HttpResponse<String> served = send(base, "GET", "/openapi.json", null, null, null);
      assertEquals(api.document(), new ObjectMapper().readTree(served.body()), "/openapi.json is the document");

      check(api, base, "GET", "/health", null, null, null);
      check(api, base, "GET", "/v1/models", null, null, null);
      byte[] jpeg = SidecarServiceTest.jpeg(3);
      check(api, base, "POST", "/infer", "", "image/jpeg", jpeg);
      check(api, base, "POST", "/infer", "", "image/jpeg", jpeg);
      check(api, base, "POST", "/infer", "", "image/jpeg", "not an image".getBytes());
      check(api, base, "POST", "/infer", "?models=nope", "image/jpeg", jpeg);
      check(api, base, "POST", "/infer", "", "application/json", "{\"path\": \"/etc/passwd\"}".getBytes());
      check(api, base, "POST", "/release", "", "application/json", null);
      check(api, base, "POST", "/release", "", null, null); // what a web page could send: 403
      check(api, base, "POST", "/shutdown", "", "application/json", null);
    } finally {
      SidecarServiceTest.await(vertx.close());
    }
    for (String status : new String[] {"POST /infer 200", "POST /infer 400", "POST /infer 403", "POST /release 401",
        "POST /release 403", "POST /shutdown 401", "GET /health 200", "GET /v1/models 200"}) {
      assertTrue(api.checked().contains(status), status + " was not checked: " + api.checked());
    }
  }

  /** The document checks {@code /infer}'s JSON body: what it does not allow is a 400 naming the field. */
  @Test
  void aJsonBodyTheDocumentRefusesIsA400NamingTheField() throws Exception {
    Vertx vertx = Vertx.vertx();
    try {
      SidecarVerticle sidecar = new SidecarVerticle(SidecarOptions.read(new JsonObject().put("port", 0)
          .put("allowed_roots", new JsonArray().add(dir.toString()))
          .put("models", new JsonArray().add(new JsonObject().put("name", "tech_sharpness").put("backend", "builtin")))),
          dir);
      SidecarServiceTest.await(vertx.deployVerticle(sidecar));
      String base = "http://127.0.0.1:" + sidecar.actualPort();
      String[][] cases = {
          {"{}", "path is required"},
          {"{\"path\": 5}", "path must be string, not integer"},
          {"{\"path\": \"/x.jpg\", \"paths\": []}", "unknown field 'paths'"},
          {"[\"/x.jpg\"]", "the request body must be object, not array"},
          {"{\"path\"", "the request body is not valid JSON"},
      };
      for (String[] c : cases) {
        HttpResponse<String> r = send(base, "POST", "/infer", "", "application/json", c[0].getBytes());
        assertEquals(400, r.statusCode(), c[0] + " -> " + r.body());
        JsonObject error = new JsonObject(r.body());
        assertEquals("bad_request", error.getString("error"), c[0] + " -> " + r.body());
        assertEquals(c[1], error.getString("message"), c[0] + " -> " + r.body());
      }
    } finally {
      SidecarServiceTest.await(vertx.close());
    }
  }

  private static void check(OpenApiContract api, String base, String method, String path, String query,
      String contentType, byte[] body) throws Exception {
    HttpResponse<String> r = send(base, method, path, query, contentType, body);
    api.check(method, path, r.statusCode(), r.body());
  }

  private static HttpResponse<String> send(String base, String method, String path, String query, String contentType,
      byte[] body) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path + (query == null ? "" : query)));
    if (contentType != null) {
      b.header("Content-Type", contentType);
    }
    b.method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofByteArray(body));
    return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }
}
