package io.iqa.server;

import io.iqa.protocol.Text;
import io.iqa.protocol.wire.ErrorCode;
import io.iqa.protocol.wire.WireFormatException;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.HttpException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one place a server turns a failure into its answer: {@link HttpError} as it is, a service's
 * own exceptions through {@code translate}, vertx-web's status failures by their status, anything
 * else a 500 {@code internal} with the cause in the log. Every answer has the v1 JSON shape.
 */
public final class ErrorRenderer {

  private static final Logger LOG = LoggerFactory.getLogger(ErrorRenderer.class);

  private final String service;
  private final Function<Throwable, HttpError> translate;

  /**
   * @param service named in a 500's message ("see the broker log")
   * @param translate the service's own exceptions as HTTP errors, or null for "not mine"
   */
  private ErrorRenderer(String service, Function<Throwable, HttpError> translate) {
    this.service = service;
    this.translate = translate;
  }

  /** Installs the failure handler and the 404/405 handlers on {@code router}. */
  public static void install(Router router, String service, Function<Throwable, HttpError> translate) {
    ErrorRenderer r = new ErrorRenderer(service, translate);
    router.route().failureHandler(r::render);
    router.errorHandler(404, ctx -> r.send(ctx, new HttpError(ErrorCode.NOT_FOUND,
        "no such endpoint: " + ctx.request().method() + " " + Text.printable(ctx.request().path(), 200))));
    router.errorHandler(405, ctx -> r.send(ctx, new HttpError(ErrorCode.METHOD_NOT_ALLOWED,
        ctx.request().method() + " is not allowed on " + Text.printable(ctx.request().path(), 200))));
  }

  private void render(RoutingContext ctx) {
    if (ctx.response().closed() || ctx.response().ended()) {
      LOG.debug("client of {} {} left before its answer", ctx.request().method(),
          Text.printable(ctx.request().path(), 200));
      return;
    }
    send(ctx, toHttp(ctx.failure(), ctx.statusCode()));
  }

  private HttpError toHttp(Throwable failure, int status) {
    Throwable f = failure;
    while ((f instanceof CompletionException || f instanceof ExecutionException) && f.getCause() != null) {
      f = f.getCause();
    }
    if (f instanceof HttpError e) {
      return e;
    }
    if (f instanceof WireFormatException e) {
      return HttpError.badRequest(e.getMessage());
    }
    HttpError mine = f == null || translate == null ? null : translate.apply(f);
    if (mine != null) {
      return mine;
    }
    int code = f instanceof HttpException he ? he.getStatusCode() : f == null ? status : 500;
    if (code >= 400 && code < 500) {
      return switch (code) {
        case 404 -> new HttpError(ErrorCode.NOT_FOUND, "not found");
        case 405 -> new HttpError(ErrorCode.METHOD_NOT_ALLOWED, "method not allowed");
        case 413 -> new HttpError(ErrorCode.TOO_LARGE, "request body too large");
        case 415 -> new HttpError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "unsupported media type");
        default -> new HttpError(code, ErrorCode.BAD_REQUEST, f instanceof HttpException he && he.getPayload() != null
            ? Text.printable(he.getPayload(), 200) : "request refused");
      };
    }
    LOG.error("internal error ({})", f == null ? "status " + status : f.getClass().getSimpleName(), f);
    return new HttpError(ErrorCode.INTERNAL, "internal error; see the " + service + " log");
  }

  private void send(RoutingContext ctx, HttpError e) {
    Json.send(ctx.response(), e);
  }
}
