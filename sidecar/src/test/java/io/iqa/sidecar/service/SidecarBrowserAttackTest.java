package io.iqa.sidecar.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.testkit.HostilePage;
import io.iqa.testkit.HostilePage.Attempt;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Round 2: {@code POST /shutdown} and {@code POST /release} need no body, so any page a user opened
 * on the host stopped the sidecar. Replayed in headless Chromium from a page of another origin: the
 * sidecar goes on serving and holds its worker; a client of its own (Content-Type: application/json)
 * still can release.
 */
class SidecarBrowserAttackTest {

  @TempDir
  Path dir;
  private SidecarProcess sidecar;

  @AfterEach
  void stop() throws Exception {
    if (sidecar != null) {
      sidecar.close();
    }
  }

  @Test
  void aPageOfAnotherOriginCannotShutDownReleaseOrScore() throws Exception {
    sidecar = new SidecarProcess(new JsonObject()
        .put("models", new JsonArray().add(new JsonObject().put("name", "tech_sharpness").put("backend", "builtin")))
        .put("lease", new JsonObject().put("required", false)), dir, List.of()).awaitListening();
    String s = "http://127.0.0.1:" + sidecar.port;
    assertEquals(200, sidecar.inferAsync(io.iqa.sidecar.samples.SampleImages.jpeg(io.iqa.sidecar.samples.SampleImages.scene(64))).get().statusCode());
    assertEquals("serving", sidecar.health().getString("state"));
    try (HostilePage page = new HostilePage()) {
      List<String> log = page.fire(List.of(
          new Attempt("shutdown", s + "/shutdown", null, null),
          new Attempt("shutdown as text/plain", s + "/shutdown", "text/plain", "{}"),
          new Attempt("release", s + "/release", null, null),
          new Attempt("release as a form", s + "/release", "application/x-www-form-urlencoded", "a=b"),
          new Attempt("infer as text/plain", s + "/infer", "text/plain", "{\"path\":\"/etc/passwd\"}")),
          new Attempt("release as JSON (needs a preflight)", s + "/release", null, "{}"));
      assertEquals(6, log.size(), "the page ran every attempt: " + log);
      assertTrue(log.get(5).contains("blocked"), "the preflight must fail: " + log);
    }
    JsonObject health = sidecar.health();
    assertEquals("ok", health.getString("status"), "the page stopped the sidecar: " + health.encode());
    assertEquals("serving", health.getString("state"), "the page released the GPU: " + health.encode());
    assertFalse(sidecar.log().contains("shutting down"), sidecar.log());
    assertEquals(200, sidecar.post("/release").statusCode(), "a client of its own still can");
    assertEquals("idle", sidecar.health().getString("state"));
  }
}
