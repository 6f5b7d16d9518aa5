package io.iqa.broker;

import io.iqa.testkit.OpenApiContract;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.iqa.broker.TestBroker.Reply;
import io.iqa.protocol.Sha256;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;

/** The broker's real answers, success and failure, against its served OpenAPI document. */
class BrokerOpenApiTest {

  private static JsonObject config() {
    return new JsonObject().put("gpus", new JsonArray().add(new JsonObject().put("index", 0).put("vram_mb", 0)));
  }

  @Test
  void everyAnswerIsWhatTheDocumentSays() throws Exception {
    OpenApiContract api = OpenApiContract.load("io/iqa/broker/openapi.json");
    try (TestBroker b = new TestBroker(config())) {
      Reply served = b.get("/openapi.json");
      assertEquals(200, served.status());
      assertEquals(api.document(), new ObjectMapper().readTree(served.body().getBytes()), "/openapi.json is the document");

      check(api, "GET", "/health", b.get("/health"));
      JsonObject lease = new JsonObject().put("owner", "llm").put("purpose", "chat").put("gpu", 0).put("ttl_s", 30);
      Reply granted = check(api, "POST", "/v1/gpu/lease", b.post("/v1/gpu/lease", lease));
      JsonObject token = new JsonObject().put("token", granted.json().getString("token"));
      check(api, "POST", "/v1/gpu/lease", b.post("/v1/gpu/lease", new JsonObject().put("owner", "batch")));
      check(api, "POST", "/v1/gpu/lease", b.post("/v1/gpu/lease", new JsonObject().put("owner", "x")
          .put("priority", "urgent")));
      check(api, "POST", "/v1/gpu/renew", b.post("/v1/gpu/renew", token));
      check(api, "GET", "/v1/gpu/status", b.get("/v1/gpu/status"));
      check(api, "POST", "/v1/gpu/force_release", b.post("/v1/gpu/force_release", new JsonObject().put("owner", "llm")));
      check(api, "POST", "/v1/gpu/renew", b.post("/v1/gpu/renew", token));
      check(api, "POST", "/v1/gpu/release", b.post("/v1/gpu/release", token));
      check(api, "POST", "/v1/gpu/release", b.post("/v1/gpu/release", token));
      check(api, "POST", "/v1/gpu/renew", b.post("/v1/gpu/renew", new JsonObject().put("token", "never-granted")));
      check(api, "POST", "/v1/gpu/force_release", b.post("/v1/gpu/force_release", new JsonObject().put("lease_id", 99)));
      check(api, "GET", "/v1/gpu/events", b.get("/v1/gpu/events"));
    }
    JsonObject auth = config().put("auth", new JsonObject().put("tokens", new JsonArray().add(new JsonObject()
        .put("name", "alice").put("token_sha256", Sha256.hex("alice-secret")))));
    try (TestBroker b = new TestBroker(auth)) {
      check(api, "GET", "/v1/gpu/status", b.get("/v1/gpu/status"));
      check(api, "POST", "/v1/gpu/lease", b.post("/v1/gpu/lease", new JsonObject().put("owner", "bob"), "alice-secret"));
      assertEquals(200, b.send(HttpMethod.GET, "/", null, null).status(), "the operator page needs no token");
    }
    for (String status : new String[] {"GET /health 200", "POST /v1/gpu/lease 200", "POST /v1/gpu/lease 409",
        "POST /v1/gpu/lease 400", "POST /v1/gpu/renew 410", "POST /v1/gpu/renew 404", "GET /v1/gpu/status 401",
        "POST /v1/gpu/lease 403", "POST /v1/gpu/force_release 404"}) {
      assertTrue(api.checked().contains(status), status + " was not checked: " + api.checked());
    }
  }

  /**
   * The document is the check of every request: a body or parameter it does not allow is a 400
   * {@code bad_request} whose message names the field and what the document asks of it.
   */
  @Test
  void aRequestTheDocumentRefusesIsA400NamingTheFieldAndWhatItMayBe() {
    String[][] cases = {
        {"/v1/gpu/lease", "{}", "owner is required"},
        {"/v1/gpu/lease", "{\"owner\":\"a b\"}", "owner must match ^[A-Za-z0-9._-]{1,64}$"},
        {"/v1/gpu/lease", "{\"owner\":\"a\",\"gpus\":1}", "unknown field 'gpus'"},
        {"/v1/gpu/lease", "{\"owner\":\"a\",\"priority\":\"urgent\"}", "priority must be one of [\"low\", \"normal\", \"high\"]"},
        {"/v1/gpu/lease", "{\"owner\":\"a\",\"gpu\":0.5}", "gpu must be integer, not number"},
        {"/v1/gpu/lease", "{\"owner\":\"a\",\"yield\":\"yes\"}", "yield must be boolean, not string"},
        {"/v1/gpu/lease", "{\"owner\":\"a\",\"wait_s\":-1}", "wait_s must be at least 0, not -1"},
        {"/v1/gpu/lease", "{\"owner\":\"a\",\"ttl_s\":7200}", "ttl_s must be between 1 and 3600, not 7200"},
        {"/v1/gpu/lease", "[1]", "the request body must be object, not array"},
        {"/v1/gpu/lease", "{\"owner\"", "the request body is not valid JSON"},
        {"/v1/gpu/renew", "{\"ttl_s\":5}", "token is required"},
        {"/v1/gpu/renew", "{\"token\":\"x\",\"ttl_s\":99999}", "ttl_s must be at most max_ttl_s=3600, not 99999"},
        {"/v1/gpu/release", "{\"token\":\"x\",\"reason\":\"bad\\nreason\"}", "reason must match ^[A-Za-z0-9._ -]{1,64}$"},
        {"/v1/gpu/force_release", "{}", "lease_id is required or owner is required"},
        {"/v1/gpu/force_release", "{\"lease_id\":0}", "lease_id must be at least 1, not 0"},
    };
    try (TestBroker b = new TestBroker(config())) {
      for (String[] c : cases) {
        Reply r = b.send(HttpMethod.POST, c[0], io.vertx.core.buffer.Buffer.buffer(c[1]), null);
        assertEquals(400, r.status(), c[1] + " -> " + r);
        assertEquals("bad_request", r.json().getString("error"), c[1] + " -> " + r);
        assertEquals(c[2], r.json().getString("message"), c[1] + " -> " + r);
      }
      Reply since = b.get("/v1/gpu/events?since=-1");
      assertEquals(400, since.status());
      assertEquals("since must be at least 0, not -1", since.json().getString("message"));
      Reply watch = b.send(HttpMethod.GET, "/v1/gpu/lease/watch", null, null);
      assertEquals(400, watch.status());
      assertTrue(watch.json().getString("message").contains("Lease-Token"), watch.toString());
      Reply nulls = b.post("/v1/gpu/lease", new JsonObject().put("owner", "a").putNull("purpose").putNull("ttl_s")
          .putNull("priority"));
      assertEquals(200, nulls.status(), "a null is the field's default: " + nulls);
    }
  }

  private static Reply check(OpenApiContract api, String method, String path, Reply reply) throws Exception {
    api.check(method, path, reply.status(), reply.body().toString());
    return reply;
  }
}
