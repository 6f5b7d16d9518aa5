package io.iqa.sidecar.cli;

import io.iqa.protocol.config.ConfigException;
import io.iqa.server.ListenOptions;
import io.iqa.server.ServerProcess;
import io.iqa.sidecar.model.ModelRegistry;
import io.iqa.sidecar.service.SidecarOptions;
import io.iqa.sidecar.service.SidecarVerticle;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code serve [--conf FILE] [--host H] [--port N]}: the long-lived sidecar. Prints
 * {@code iqa-sidecar listening on http://HOST:PORT} once it serves; SIGTERM stops it cleanly.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
    description = "Run the sidecar HTTP service, on 127.0.0.1:8471 unless configured.")
public final class ServeCommand implements Callable<Integer> {

  private static final Logger LOG = LoggerFactory.getLogger(ServeCommand.class);

  @Option(names = "--conf", description = "sidecar config JSON (default: the built-in weight-free model set)")
  Path conf;

  @Mixin ListenOptions listen;

  @Override
  public Integer call() {
    SidecarOptions options;
    try {
      JsonObject json = listen.applyTo(SidecarOptions.applyEnv(SidecarConfig.read(conf), System.getenv()));
      options = SidecarOptions.read(json);
      // The model entries too (keys, types, files), before the lease wait and the model loading.
      ModelRegistry.check(options.json(), SidecarConfig.baseDir(conf));
    } catch (ConfigException e) {
      System.err.println("iqa-sidecar: config error: " + e.getMessage());
      return 2;
    }
    Vertx vertx = Vertx.vertx(new VertxOptions().setPreferNativeTransport(true));
    AtomicBoolean exiting = new AtomicBoolean();
    SidecarVerticle sidecar = new SidecarVerticle(options, SidecarConfig.baseDir(conf));
    // /shutdown, a lost lease and idleness end here. System.exit runs in its own thread: called
    // from the SIGTERM hook below it would wait for that very hook.
    sidecar.onExit(code -> {
      if (exiting.compareAndSet(false, true)) {
        Thread t = new Thread(() -> {
          try {
            vertx.close().await(30, TimeUnit.SECONDS);
          } catch (Exception e) {
            LOG.warn("sidecar did not stop cleanly: {}", e.getMessage());
          }
          System.exit(code);
        }, "sidecar-exit");
        t.start();
      }
    });
    Integer failed = ServerProcess.deploy("iqa-sidecar", vertx, sidecar, 600);
    if (failed != null) {
      return failed;
    }
    return ServerProcess.runUntilStopped("iqa-sidecar", "http://" + options.host() + ":" + sidecar.actualPort(), () -> {
      if (!exiting.compareAndSet(false, true)) {
        return;
      }
      // SIGTERM: the same as /shutdown: drain, close the models, release the lease.
      sidecar.shutdown("SIGTERM", 0).await(options.drainTimeoutS() + 30, TimeUnit.SECONDS);
      vertx.close().await(30, TimeUnit.SECONDS);
    });
  }
}
