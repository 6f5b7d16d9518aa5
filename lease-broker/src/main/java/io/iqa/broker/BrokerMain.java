package io.iqa.broker;

import io.iqa.protocol.config.ConfigException;
import io.iqa.server.ConfigFile;
import io.iqa.server.ListenOptions;
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
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine;

/** {@code java -jar lease-broker.jar [--conf FILE] [--host H] [--port N]}. */
@Command(name = "lease-broker", mixinStandardHelpOptions = true, version = "lease-broker 0.1.0",
    description = "Hands out time-bounded GPU leases over HTTP, on 127.0.0.1:8470 unless configured "
        + "(see docs/broker.md).")
public final class BrokerMain implements Callable<Integer> {

  private static final Logger LOG = LoggerFactory.getLogger(BrokerMain.class);

  @Option(names = "--conf", description = "JSON config file (default: built-in defaults; env GPU_LEASE_* override it)")
  Path conf;

  @Mixin ListenOptions listen;

  @Option(names = "--fresh", description = "no lease from an earlier run can be alive (every holder is known to be "
      + "gone): discard the lease state (the state file, or a recovery grace in progress) and grant at once. Not "
      + "needed on a first start: a state file that does not exist yet is one") boolean fresh;

  public static void main(String[] args) {
    System.exit(new CommandLine(new BrokerMain()).execute(args));
  }

  @Override
  public Integer call() {
    BrokerOptions options;
    try {
      JsonObject json = conf == null ? new JsonObject() : ConfigFile.read(conf);
      json = listen.applyTo(BrokerOptions.applyEnv(json, System.getenv()));
      options = BrokerOptions.read(json, conf == null ? null : conf.toAbsolutePath().getParent(),
          BrokerOptions.defaultStateFile(System.getenv()));
    } catch (ConfigException e) {
      System.err.println("lease-broker: config error: " + e.getMessage());
      return 2;
    }
    Vertx vertx = Vertx.vertx(new VertxOptions().setPreferNativeTransport(true));
    BrokerVerticle verticle = new BrokerVerticle(options, fresh);
    Integer failed = ServerProcess.deploy("lease-broker", vertx, verticle, 60);
    if (failed != null) {
      return failed;
    }
    return ServerProcess.runUntilStopped("lease-broker", "http://" + options.host() + ":" + verticle.actualPort(),
        () -> {
          LOG.info("stopping lease broker");
          vertx.close().await(10, TimeUnit.SECONDS);
        });
  }
}
