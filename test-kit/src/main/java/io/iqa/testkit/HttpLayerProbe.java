package io.iqa.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.testkit.RawHttp.Answer;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The second hostile probe's HTTP-layer findings, replayed against a real server (the broker and
 * the sidecar share the layer, server-kit's GuardedServer): every malformed, foreign or unknown
 * request gets a JSON 4xx of its own, none a 500, none silence; each is logged at WARN at most,
 * never with a stack trace.
 */
public final class HttpLayerProbe {

  private HttpLayerProbe() {
  }

  /** A request sent raw, and the status and error code it must get. */
  private record Case(String request, int status, String error) {
  }

  /**
   * @param jsonPost a POST path of this server that takes a JSON body ("/v1/gpu/lease", "/infer")
   * @param bodiless a POST path that takes no body ("/v1/gpu/release" needs one: give the sidecar's "/release")
   * @param log the server's log so far
   */
  public static void assertEveryRequestGetsItsJsonAnswer(int port, String jsonPost, String bodiless,
      Supplier<String> log) throws Exception {
    String host = "Host: 127.0.0.1:" + port + "\r\n";
    String json = "Content-Type: application/json\r\n";
    Map<String, Case> cases = new LinkedHashMap<>();
    cases.put("a bad escape in the query", new Case("GET /health?since=%zz HTTP/1.1\r\n" + host + "\r\n", 400,
        "bad_request"));
    cases.put("a bad escape in the path", new Case("GET /v1/%zz HTTP/1.1\r\n" + host + "\r\n", 400, "bad_request"));
    cases.put("a 9 KiB chunk extension", new Case("POST " + jsonPost + " HTTP/1.1\r\n" + host + json
        + "Transfer-Encoding: chunked\r\n\r\n5;" + "x".repeat(9216) + "\r\nhello\r\n0\r\n\r\n", 400, "bad_request"));
    cases.put("a chunk size that overflows", new Case("POST " + jsonPost + " HTTP/1.1\r\n" + host + json
        + "Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n", 400, "bad_request"));
    cases.put("a 20 KB trailer", new Case("POST " + jsonPost + " HTTP/1.1\r\n" + host + json
        + "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX-Trailer: " + "a".repeat(20_000) + "\r\n\r\n", 400,
        "bad_request"));
    cases.put("TRACE", new Case("TRACE / HTTP/1.1\r\n" + host + "\r\n", 405, "method_not_allowed"));
    cases.put("OPTIONS (a CORS preflight)", new Case("OPTIONS " + jsonPost + " HTTP/1.1\r\n" + host
        + "Origin: http://evil.example\r\nAccess-Control-Request-Method: POST\r\n\r\n", 405, "method_not_allowed"));
    cases.put("an unknown method", new Case("BREW /health HTTP/1.1\r\n" + host + "\r\n", 405, "method_not_allowed"));
    cases.put("text/plain JSON, as a page can send", new Case("POST " + jsonPost + " HTTP/1.1\r\n" + host
        + "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}", 415, "unsupported_media_type"));
    cases.put("a form, as a page can send", new Case("POST " + jsonPost + " HTTP/1.1\r\n" + host
        + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\na=b", 415,
        "unsupported_media_type"));
    cases.put("a bare POST, as a page can send", new Case("POST " + bodiless + " HTTP/1.1\r\n" + host
        + "Content-Length: 0\r\n\r\n", 403, "forbidden"));
    cases.put("a POST from another origin", new Case("POST " + jsonPost + " HTTP/1.1\r\n" + host + json
        + "Origin: http://127.0.0.1:9\r\nContent-Length: 2\r\n\r\n{}", 403, "forbidden"));
    cases.put("a POST from a sandboxed page (Origin: null)", new Case("POST " + jsonPost + " HTTP/1.1\r\n" + host
        + json + "Origin: null\r\nContent-Length: 2\r\n\r\n{}", 403, "forbidden"));
    cases.put("a DNS-rebinding Host", new Case("GET /health HTTP/1.1\r\nHost: rebind.evil.example:" + port
        + "\r\n\r\n", 403, "forbidden"));
    for (Map.Entry<String, Case> c : cases.entrySet()) {
      try (RawHttp r = new RawHttp(port)) {
        r.send(c.getValue().request());
        Answer a = r.read();
        String what = c.getKey() + ": " + a;
        assertTrue(a != null, c.getKey() + " got no answer at all");
        assertEquals(c.getValue().status(), a.status(), what);
        assertTrue(a.head().toLowerCase().contains("content-type: application/json"), what);
        assertTrue(a.body().contains("\"error\":\"" + c.getValue().error() + "\""), what);
        if (a.status() == 405) {
          assertTrue(a.head().contains("Allow: GET, HEAD, POST"), what);
        }
      }
    }
    // Expect: 100-continue gets its 100, then the answer to the body that follows.
    try (RawHttp r = new RawHttp(port)) {
      r.send("POST " + jsonPost + " HTTP/1.1\r\n" + host + json + "Content-Length: 2\r\nExpect: 100-continue\r\n\r\n");
      Answer cont = r.read();
      assertEquals(100, cont.status(), String.valueOf(cont));
      r.send("{}");
      Answer a = r.read();
      assertTrue(a.status() >= 400 && a.status() < 500 && a.body().startsWith("{\"error\""), String.valueOf(a));
    }
    // The server's own names and addresses still work.
    for (String h : new String[] {"127.0.0.1:" + port, "localhost:" + port, "[::1]:" + port, "sidecar:" + port}) {
      try (RawHttp r = new RawHttp(port)) {
        r.send("GET /health HTTP/1.1\r\nHost: " + h + "\r\n\r\n");
        assertEquals(200, r.read().status(), "Host " + h);
      }
    }
    String logged = log.get();
    assertFalse(logged.contains("ERROR"), "a client's mistake logged as an ERROR:\n" + logged);
    assertFalse(logged.contains("\tat "), "a client's mistake logged with a stack trace:\n" + logged);
  }
}
