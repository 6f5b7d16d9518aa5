package io.iqa.broker.http;

import io.iqa.server.Routes;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.handler.StaticHandler;

/**
 * The operator page at {@code /}: plain HTML, CSS and JavaScript from the jar, served without auth
 * (it holds no data; every call it makes carries the token the operator types). docs/operations.md
 * says what it shows.
 */
public final class OperatorPage {

  /** Where the page's files are, on the class path. */
  private static final String FILES = "io/iqa/broker/operator";

  private OperatorPage() {
  }

  public static void install(Router router) {
    Routes.get(router, "/").handler(ctx -> ctx.reroute("/operator/index.html"));
    Routes.get(router, "/operator/*").handler(ctx -> {
      ctx.response().putHeader("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
          .putHeader("X-Content-Type-Options", "nosniff");
      ctx.next();
    }).handler(StaticHandler.create(FILES).setDirectoryListing(false).setIndexPage("index.html")
        .setCachingEnabled(false));
  }
}
