package io.iqa.broker;

import io.iqa.protocol.config.ConfigException;
import io.iqa.server.ServerProcess;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine;

/** {@code java -jar lease-broker.jar [--conf FILE] [--host H] [--port N]}. */
@Command(name = "lease-broker", mixinStandardHelpOptions = true, version = "lease-broker 0.1.0",
    description = "Hands out time-bounded GPU leases over HTTP (see docs/broker.md).")
public final class BrokerMain implements Callable<Integer> {

  private static final Logger LOG = LoggerFactory.getLogger(BrokerMain.class);

  @Option(names = "--conf", description = "JSON config file (default: built-in defaults; env GPU_LEASE_* override it)")
  Path conf;

  @Option(names = "--host", description = "address to bind (default 127.0.0.1)")
  String host;

  @Option(names = "--port", description = "port to listen on (default 8470; 0 picks a free one)")
  Integer port;

  @Option(names = "--fresh", description = "no lease from an earlier run can be alive (first start, or every "
      + "holder is known to be gone): skip the recovery period of a start without lease state, and discard the "
      + "state file if there is one")
  boolean fresh;

  public static void main(String[] args) {
    System.exit(new CommandLine(new BrokerMain()).execute(args));
  }

  @Override
  public Integer call() {
    BrokerOptions options;
    try {
      JsonObject json = conf == null ? new JsonObject() : BrokerOptions.readFile(conf);
      json = BrokerOptions.applyEnv(json, System.getenv());
      if (host != null) {
        json.put("host", host);
      }
      if (port != null) {
        json.put("port", port);
      }
      options = new BrokerOptions(json).fresh(fresh)
          .resolveAgainst(conf == null ? null : conf.toAbsolutePath().getParent());
    } catch (ConfigException e) {
      System.err.println("lease-broker: config error: " + e.getMessage());
      return 2;
    }
    Vertx vertx = Vertx.vertx(new VertxOptions().setPreferNativeTransport(true));
    BrokerVerticle verticle = new BrokerVerticle(options);
    try {
      vertx.deployVerticle(verticle).await(60, TimeUnit.SECONDS);
    } catch (Exception e) {
      System.err.println("lease-broker: failed to start: " + e.getMessage());
      vertx.close();
      return 1;
    }
    return ServerProcess.runUntilStopped("lease-broker", "http://" + options.host() + ":" + verticle.actualPort(),
        () -> {
          LOG.info("stopping lease broker");
          vertx.close().await(10, TimeUnit.SECONDS);
        });
  }
}
