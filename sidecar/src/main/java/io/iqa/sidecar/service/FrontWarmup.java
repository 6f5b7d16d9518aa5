package io.iqa.sidecar.service;

import io.iqa.sidecar.samples.SampleImages;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerRequest;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.HexFormat;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The front's own warm-up: the worker warmed its models up; this warms up the front's path (HTTP,
 * body reading, hashing, the queue, the frames) with one image sent to itself over loopback before
 * the sidecar says it listens. The request carries a token only this process knows: it leaves no
 * trace in the cache or the metrics.
 */
final class FrontWarmup {

  private static final Logger LOG = LoggerFactory.getLogger(FrontWarmup.class);
  private static final String HEADER = "X-IQA-Warmup";

  private final String token = newToken();
  private final byte[] tokenBytes = token.getBytes(StandardCharsets.US_ASCII);

  private static String newToken() {
    byte[] bytes = new byte[16];
    new SecureRandom().nextBytes(bytes);
    return HexFormat.of().formatHex(bytes);
  }

  /** @return whether {@code request} is this process's own warm-up (compared in constant time) */
  boolean marks(HttpServerRequest request) {
    return MessageDigest.isEqual(tokenBytes,
        String.valueOf(request.getHeader(HEADER)).getBytes(StandardCharsets.US_ASCII));
  }

  /** Sends one image to the front's {@code /infer}; never fails (a failed warm-up is a WARN). */
  Future<Void> send(Vertx vertx, String host, int port) {
    byte[] jpeg = SampleImages.jpeg(SampleImages.scene(256));
    HttpClient http = vertx.createHttpClient();
    String to = host.equals("0.0.0.0") ? "127.0.0.1" : host;
    return http.request(HttpMethod.POST, port, to, "/infer")
        .compose(req -> req.putHeader("Content-Type", "image/jpeg").putHeader(HEADER, token).send(Buffer.buffer(jpeg)))
        .compose(resp -> resp.body().map(b -> resp.statusCode()))
        .onComplete(ar -> {
          http.close();
          if (ar.failed() || ar.result() != 200) {
            LOG.warn("warming up the front with one image failed: {}", ar.failed() ? ar.cause().getMessage()
                : "status " + ar.result());
          }
        })
        .<Void>mapEmpty().recover(e -> Future.succeededFuture());
  }
}
