package io.iqa.sidecar.service;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerRequest;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;

/**
 * Reads a raw image body as it arrives: counts it against the limit (a body that declares or
 * sends more is refused with 413 before the excess is buffered), hashes each chunk with SHA-256
 * on the way, and copies it once into the final array. No extra copy of a large body, no second
 * pass to hash it.
 */
final class StreamedBody {

  /** The bytes and their SHA-256 (hex). */
  record Image(byte[] bytes, String sha256) {
  }

  private StreamedBody() {
  }

  static Future<Image> read(HttpServerRequest request, long limit) {
    Promise<Image> promise = Promise.promise();
    String declared = request.getHeader("Content-Length");
    long length = -1;
    if (declared != null) {
      try {
        length = Long.parseLong(declared.trim());
      } catch (NumberFormatException e) {
        return Future.failedFuture(new ServiceException(400, "bad_request", "Content-Length is not a number"));
      }
      if (length > limit) {
        return Future.failedFuture(tooLarge(length + " bytes declared", limit));
      }
    }
    MessageDigest sha;
    try {
      sha = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      return Future.failedFuture(e);
    }
    State state = new State(length >= 0 ? (int) length : 64 * 1024);
    request.handler(chunk -> {
      if (promise.future().isComplete()) {
        return;
      }
      int n = chunk.length();
      if ((long) state.size + n > limit) {
        promise.tryFail(tooLarge("more than " + limit + " bytes sent", limit));
        return;
      }
      if (state.size + n > state.data.length) {
        state.data = Arrays.copyOf(state.data, Math.max(state.data.length * 2, state.size + n));
      }
      chunk.getBytes(state.data, state.size);
      sha.update(state.data, state.size, n);
      state.size += n;
    });
    request.exceptionHandler(promise::tryFail);
    request.endHandler(v -> promise.tryComplete(new Image(
        state.size == state.data.length ? state.data : Arrays.copyOf(state.data, state.size),
        HexFormat.of().formatHex(sha.digest()))));
    request.resume();
    return promise.future();
  }

  /** Reads a small body (JSON) whole, with its own limit. */
  static Future<Buffer> small(HttpServerRequest request, long limit) {
    return read(request, limit).map(i -> Buffer.buffer(i.bytes()));
  }

  private static ServiceException tooLarge(String what, long limit) {
    return new ServiceException(413, "too_large", "request body too large (" + what + "); max_body_bytes is " + limit);
  }

  private static final class State {
    byte[] data;
    int size;

    State(int initial) {
      data = new byte[initial];
    }
  }
}
