package io.iqa.holder.serve;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonObject;
import java.net.URI;

/**
 * The front's own calls to the model server (health, an adapter's sleep and wake), each with a
 * timeout: a wedged server costs a timeout, never a hung front.
 */
final class UpstreamHttp {

  /** One answer: its status and body. */
  record Reply(int status, Buffer body) {
    boolean ok() {
      return status >= 200 && status < 300;
    }

    JsonObject json() {
      try {
        return body.length() == 0 ? new JsonObject() : new JsonObject(body);
      } catch (RuntimeException e) {
        return new JsonObject();
      }
    }

    @Override
    public String toString() {
      String text = body.toString();
      return status + (text.isBlank() ? "" : " " + (text.length() > 200 ? text.substring(0, 200) + "..." : text));
    }
  }

  private final HttpClient client;
  final String host;
  final int port;
  private final String base;
  private final String authorization;

  UpstreamHttp(Vertx vertx, URI upstream) {
    this(vertx, upstream, null);
  }

  /** @param token sent as a bearer token (the broker's, for its status), or null */
  UpstreamHttp(Vertx vertx, URI upstream, String token) {
    this.authorization = token == null || token.isEmpty() ? null : "Bearer " + token;
    this.host = upstream.getHost();
    this.port = upstream.getPort() > 0 ? upstream.getPort() : 80;
    String path = upstream.getRawPath() == null ? "" : upstream.getRawPath();
    this.base = path.endsWith("/") ? path.substring(0, path.length() - 1) : path;
    this.client = vertx.createHttpClient(new HttpClientOptions().setConnectTimeout(2000).setKeepAlive(false));
  }

  Future<Reply> get(String path, long timeoutMs) {
    return call(HttpMethod.GET, path, null, timeoutMs);
  }

  Future<Reply> post(String path, JsonObject body, long timeoutMs) {
    return call(HttpMethod.POST, path, body, timeoutMs);
  }

  Future<Reply> call(HttpMethod method, String path, JsonObject body, long timeoutMs) {
    RequestOptions o = new RequestOptions().setMethod(method).setHost(host).setPort(port).setURI(base + path)
        .setIdleTimeout(timeoutMs).setConnectTimeout(Math.min(timeoutMs, 2000));
    return client.request(o).compose(req -> {
      if (authorization != null) {
        req.putHeader("Authorization", authorization);
      }
      if (body != null) {
        req.putHeader("Content-Type", "application/json");
        return req.send(body.toBuffer());
      }
      return req.send();
    }).compose(resp -> resp.body().map(b -> new Reply(resp.statusCode(), b)));
  }

  void close() {
    client.close();
  }
}
