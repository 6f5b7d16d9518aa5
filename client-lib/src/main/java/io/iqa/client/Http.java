package io.iqa.client;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/** JSON over the JDK's HttpClient, with v1 errors turned into {@link IqaException}. */
final class Http {

  static final ObjectMapper JSON = io.iqa.protocol.wire.WireJson.MAPPER;

  private final HttpClient client;
  private final String base;
  private final String bearer;
  private final Duration timeout;

  Http(String base, String bearer, Duration timeout) {
    // HTTP/1.1: the servers speak it, and the JDK's h2c upgrade attempt only adds a round of headers.
    this.client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5)).build();
    this.base = base.replaceAll("/+$", "");
    this.bearer = bearer;
    this.timeout = timeout;
  }

  record Reply(int status, JsonNode body) {
  }

  /** A request to {@code path} with the bearer token; {@code callTimeout} bounds the wait for the answer's head. */
  HttpRequest.Builder request(String path, Duration callTimeout) {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path))
        .timeout(callTimeout == null ? timeout : callTimeout);
    if (bearer != null) {
      b.header("Authorization", "Bearer " + bearer);
    }
    return b;
  }

  HttpClient client() {
    return client;
  }

  CompletableFuture<Reply> send(String method, String path, HttpRequest.BodyPublisher body, String contentType,
      Duration callTimeout) {
    HttpRequest.Builder b = request(path, callTimeout)
        .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : body);
    if (contentType != null) {
      b.header("Content-Type", contentType);
    }
    return client.sendAsync(b.build(), HttpResponse.BodyHandlers.ofByteArray())
        .thenApply(r -> new Reply(r.statusCode(), parse(r.body())))
        .exceptionally(e -> {
          Throwable cause = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
          throw new CompletionException(new IqaException(base + path + " unreachable: " + describe(cause), cause));
        });
  }

  CompletableFuture<Reply> postJson(String path, ObjectNode body) {
    return postJson(path, body, null);
  }

  CompletableFuture<Reply> postJson(String path, ObjectNode body, Duration callTimeout) {
    try {
      return send("POST", path, HttpRequest.BodyPublishers.ofByteArray(JSON.writeValueAsBytes(body)),
          "application/json", callTimeout);
    } catch (IOException e) {
      return CompletableFuture.failedFuture(e);
    }
  }

  CompletableFuture<Reply> get(String path) {
    return send("GET", path, null, null, null);
  }

  String base() {
    return base;
  }

  /** Fails with the server's v1 error unless the status is one of {@code ok}. */
  static JsonNode expect(Reply r, String what, int... ok) {
    for (int s : ok) {
      if (r.status() == s) {
        return r.body();
      }
    }
    String code = r.body().path("error").asText(null);
    throw new IqaException(what + " failed: " + r.status() + " " + (code == null ? "" : code + ": ")
        + r.body().path("message").asText(r.body().toString()), r.status(), code, null);
  }

  static ObjectNode object() {
    return JSON.createObjectNode();
  }

  /** @return the body a wire record ({@code io.iqa.protocol.wire}) is, in its wire names, nulls left out */
  static ObjectNode body(Object request) {
    return io.iqa.protocol.wire.WireJson.MAPPER.valueToTree(request);
  }

  static JsonNode parse(byte[] bytes) {
    try {
      return bytes.length == 0 ? JSON.createObjectNode() : JSON.readTree(bytes);
    } catch (IOException e) {
      return JSON.createObjectNode().put("message", new String(bytes, java.nio.charset.StandardCharsets.UTF_8));
    }
  }

  private static String describe(Throwable t) {
    String name = t.getClass().getSimpleName();
    return t.getMessage() == null ? name : name + " " + t.getMessage();
  }

  /** Waits for a future, unwrapping {@link IqaException}. */
  static <T> T join(CompletableFuture<T> f) {
    try {
      return f.join();
    } catch (CompletionException e) {
      if (e.getCause() instanceof IqaException ie) {
        throw ie;
      }
      if (e.getCause() instanceof RuntimeException re) {
        throw re;
      }
      throw new IqaException(String.valueOf(e.getCause()), e.getCause());
    }
  }
}
