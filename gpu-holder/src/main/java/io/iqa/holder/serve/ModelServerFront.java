package io.iqa.holder.serve;

import io.iqa.holder.GpuMode;
import io.iqa.holder.HolderLoop;
import io.iqa.holder.HolderRules;
import io.iqa.holder.OnLeaseLost;
import io.iqa.holder.Pending;
import io.iqa.protocol.Text;
import io.iqa.protocol.wire.ErrorCode;
import io.iqa.server.HttpError;
import io.iqa.server.Json;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonObject;
import io.vertx.httpproxy.HttpProxy;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code iqa gpu serve}: a lease-holding front for any HTTP model server. It listens where clients
 * expect the server and runs the project's one holder lifecycle ({@link HolderLoop}) with the
 * server as its {@link ServerUpstream}: a request that comes while it is idle takes a yieldable
 * lease and wakes (or starts) the server; requests that come meanwhile wait, in order, up to
 * {@code queue_limit}; once the server is healthy they are forwarded through Vert.x's reverse proxy
 * ({@code vertx-http-proxy}), bodies streamed both ways, chunk by chunk. A yield request, the idle
 * time or a revocation stops forwarding (new requests wait), lets the requests in flight finish,
 * puts the server to sleep, checks its GPU memory fell, and only then releases the lease.
 *
 * <p>Its own paths: {@code GET /iqa/status} (the lifecycle, the lease, the server and the queue)
 * and {@code POST /iqa/release} (give the GPU back now). Everything else goes to the server.
 */
public final class ModelServerFront {

  private static final Logger LOG = LoggerFactory.getLogger(ModelServerFront.class);

  private final Vertx vertx;
  private final ServeOptions options;
  private final Adapter adapter;
  private final HolderLoop loop;
  private final ServerUpstream server;
  private final HttpProxy proxy;
  private final Deque<HttpServerRequest> waiting = new ArrayDeque<>();
  private final List<Promise<Void>> sentWaiters = new ArrayList<>();
  private boolean attached;
  private int inFlight;
  private long lastWork = System.nanoTime();
  private long forwarded;
  private HttpServer http;

  public ModelServerFront(Vertx vertx, ServeOptions options) {
    this.vertx = vertx;
    this.options = options;
    this.adapter = Adapter.of(options.adapter(), options.vllmLevel());
    this.loop = new HolderLoop(vertx,
        new HolderRules.Settings(GpuMode.LEASED, true, OnLeaseLost.IDLE, Math.round(options.drainTimeoutS() * 1000),
            options.request().waitS(), "front"),
        new HolderLoop.Timing(options.idleReleaseS(), "no request for --idle-release-s " + options.idleReleaseS(),
            0, 0),
        new HolderLoop.LeaseSpec(options.brokerUrl(), options.token(), options.request()), code -> { });
    this.server = new ServerUpstream(vertx, options, adapter, loop.lease());
    this.proxy = HttpProxy.reverseProxy(vertx.createHttpClient(new HttpClientOptions().setKeepAlive(true)))
        .origin(server.http().port, server.http().host);
    loop.bind(server, new Work());
  }

  /** Listens; the lease is taken and the server brought up by the first request. @return the port */
  public Future<Integer> start() {
    return vertx.createHttpServer(new HttpServerOptions().setHost(options.listenHost()).setPort(options.listenPort()))
        .requestHandler(this::handle)
        .listen()
        .compose(s -> {
          http = s;
          LOG.info("front for {} ({} adapter) listening on http://{}:{}", options.upstream(), adapter.name(),
              options.listenHost(), s.actualPort());
          return loop.start(false).map(v -> s.actualPort());
        });
  }

  private void handle(HttpServerRequest req) {
    String path = req.path();
    if (path.equals("/iqa/status")) {
      Json.send(req.response(), 200, status());
      return;
    }
    if (path.equals("/iqa/release")) {
      if (req.method() != HttpMethod.POST) {
        Json.send(req.response(), new HttpError(405, ErrorCode.METHOD_NOT_ALLOWED, "POST /iqa/release"));
      } else if (!String.valueOf(req.getHeader("Content-Type")).startsWith("application/json")) {
        // What a web page can send without asking (no preflight) is refused, as on the sidecar.
        Json.send(req.response(), new HttpError(403, ErrorCode.FORBIDDEN,
            "POST /iqa/release needs Content-Type: application/json"));
      } else {
        loop.release("asked by POST /iqa/release").onComplete(ar -> Json.send(req.response(), 200, status()));
      }
      return;
    }
    lastWork = System.nanoTime();
    if (attached && waiting.isEmpty()) {
      forward(req);
      return;
    }
    if (waiting.size() >= options.queueLimit()) {
      Json.send(req.response(), new HttpError(503, ErrorCode.OVERLOADED, options.queueLimit()
          + " requests already wait for " + options.name() + " (--queue-limit); retry", null, 5));
      return;
    }
    req.pause();
    waiting.addLast(req);
    req.connection().closeHandler(v -> waiting.remove(req));
    loop.demand().run();
  }

  private void forward(HttpServerRequest req) {
    inFlight++;
    forwarded++;
    boolean[] done = {false};
    Runnable end = () -> {
      if (!done[0]) {
        done[0] = true;
        inFlight--;
        lastWork = System.nanoTime();
        if (inFlight == 0) {
          sentWaiters.forEach(Promise::tryComplete);
          sentWaiters.clear();
        }
      }
    };
    req.response().endHandler(v -> end.run());
    req.response().closeHandler(v -> end.run());
    req.connection().closeHandler(v -> end.run());
    proxy.handle(req);
  }

  /** The requests, as the lifecycle's work. */
  private final class Work implements Pending {
    @Override
    public void attach(int gen) {
      attached = true;
      while (!waiting.isEmpty() && attached) {
        forward(waiting.pollFirst());
      }
    }

    @Override
    public void detach() {
      attached = false;
    }

    @Override
    public Future<Void> whenSentAnswered() {
      if (inFlight == 0) {
        return Future.succeededFuture();
      }
      Promise<Void> p = Promise.promise();
      sentWaiters.add(p);
      return p.future();
    }

    @Override
    public void failPending(HttpError why) {
      while (!waiting.isEmpty()) {
        HttpServerRequest r = waiting.pollFirst();
        r.resume();
        Json.send(r.response(), why);
      }
    }

    @Override
    public void sentGone(HttpError why, boolean retry) {
      // What was forwarded is answered by the server or, once it is gone, by the proxy (502).
    }

    @Override
    public boolean hasPending() {
      return !waiting.isEmpty();
    }

    @Override
    public boolean idle() {
      return waiting.isEmpty() && inFlight == 0;
    }

    @Override
    public long lastWorkNanos() {
      return lastWork;
    }
  }

  /** {@code GET /iqa/status}: the lifecycle (state, why, since), the lease (no token), the server, the queue. */
  public JsonObject status() {
    return loop.health().put("queued", waiting.size()).put("in_flight", inFlight).put("forwarded", forwarded);
  }

  public HolderRules.Phase state() {
    return loop.state();
  }

  /** Stops listening, drains, puts the server down (the process the front started exits), releases the lease. */
  public Future<Void> shutdown(String why) {
    Future<Void> closed = http == null ? Future.succeededFuture() : http.close();
    return closed.compose(v -> loop.shutdown(why, Future.succeededFuture()))
        .compose(v -> server.stopProcess(options.graceMs()))
        .onComplete(ar -> server.close());
  }
}
