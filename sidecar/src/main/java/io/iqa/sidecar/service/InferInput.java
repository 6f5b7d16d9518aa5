package io.iqa.sidecar.service;

import com.fasterxml.jackson.databind.JsonNode;
import io.iqa.protocol.Text;
import io.iqa.protocol.wire.ErrorCode;
import io.iqa.server.BodyReader;
import io.iqa.server.HttpError;
import io.iqa.server.RequestPolicy;
import io.iqa.server.InflightBudget;
import io.iqa.server.OpenApiRequests;
import io.vertx.core.Future;
import io.vertx.core.WorkerExecutor;
import io.vertx.core.buffer.Buffer;
import io.vertx.ext.web.RoutingContext;
import java.util.function.Function;

/**
 * The image of one /infer, by its content type: raw image bytes (read as they arrive: limited,
 * hashed, counted against {@code max_inflight_bytes}), or {@code {"path": ...}} inside an allowed
 * root, read by {@link PathInput} on the I/O pool.
 */
final class InferInput {

  private final long maxBodyBytes;
  private final PathInput paths;
  private final WorkerExecutor ioPool;
  /** The sidecar's OpenAPI document's check of a JSON body. */
  private final Function<Buffer, JsonNode> jsonCheck;

  /** @param contract the sidecar's OpenAPI document: it checks a JSON body */
  InferInput(SidecarOptions options, WorkerExecutor ioPool, OpenApiRequests contract) {
    this.maxBodyBytes = options.maxBodyBytes();
    this.paths = new PathInput(options.allowedRoots(), options.maxImageBytes());
    this.ioPool = ioPool;
    this.jsonCheck = contract.jsonCheck("infer");
  }

  /** @return the bytes with their SHA-256 (null: still to compute) */
  Future<BodyReader.Body> read(RoutingContext ctx, InflightBudget.Reservation held) {
    String type = contentType(ctx);
    if (type.startsWith("image/") || type.equals("application/octet-stream")) {
      return BodyReader.read(ctx.request(), maxBodyBytes, true, held, "max_body_bytes");
    }
    if (type.equals("application/json")) {
      return BodyReader.read(ctx.request(), 64 * 1024, false, held, "the limit of a JSON body")
          .compose(body -> pathBytes(body.bytes(), held))
          .map(bytes -> new BodyReader.Body(bytes, null));
    }
    ctx.request().resume();
    return Future.failedFuture(new HttpError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "send the image as image/* or "
        + "application/octet-stream, or {\"path\": ...} as application/json; got '" + Text.printable(type, 80) + "'"));
  }

  private Future<byte[]> pathBytes(byte[] body, InflightBudget.Reservation held) {
    String path;
    try {
      path = jsonCheck.apply(Buffer.buffer(body)).path("path").asText();
    } catch (HttpError refused) {
      return Future.failedFuture(refused);
    }
    if (!paths.enabled()) {
      return Future.failedFuture(new HttpError(ErrorCode.FORBIDDEN,
          "path input is off: configure allowed_roots to allow reading files"));
    }
    String requested = path;
    return ioPool.executeBlocking(() -> {
      byte[] bytes = paths.read(requested);
      if (!held.grow(bytes.length)) {
        throw HttpError.overloaded("too many bytes of requests in flight (max_inflight_bytes); retry later", 1);
      }
      return bytes;
    }, false);
  }

  private static String contentType(RoutingContext ctx) {
    String type = RequestPolicy.mediaType(ctx.request().getHeader("Content-Type"));
    return type == null ? "" : type;
  }
}
