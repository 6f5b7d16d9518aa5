package io.iqa.server;

import io.vertx.core.http.HttpMethod;
import io.vertx.ext.web.Route;
import io.vertx.ext.web.Router;

/** Route helpers. */
public final class Routes {

  private Routes() {
  }

  /** A GET route that answers HEAD too (the same head, no body), as HTTP says every GET resource should. */
  public static Route get(Router router, String path) {
    return router.route(path).method(HttpMethod.GET).method(HttpMethod.HEAD);
  }
}
