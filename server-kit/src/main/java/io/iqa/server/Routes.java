package io.iqa.server;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.ext.web.Route;
import io.vertx.ext.web.Router;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/** Route helpers of both servers. */
public final class Routes {

  private Routes() {
  }

  /**
   * Serves a file from the class path (read once, at start) at {@code path}, for GET and HEAD: the
   * servers' {@code /openapi.json}.
   *
   * @throws IllegalStateException when the resource is not in the jar (a packaging mistake)
   */
  public static void resource(Router router, String path, String classpathResource, String contentType) {
    Buffer body;
    try (InputStream in = Routes.class.getClassLoader().getResourceAsStream(classpathResource)) {
      if (in == null) {
        throw new IllegalStateException(classpathResource + " is missing from the class path");
      }
      body = Buffer.buffer(in.readAllBytes());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    get(router, path).handler(ctx -> ctx.response().putHeader("Content-Type", contentType).end(body));
  }

  /** A GET route that answers HEAD too (the same head, no body), as HTTP says every GET resource should. */
  public static Route get(Router router, String path) {
    return router.route(path).method(HttpMethod.GET).method(HttpMethod.HEAD);
  }
}
