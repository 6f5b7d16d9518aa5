package io.iqa.server;

import io.vertx.core.json.JsonObject;
import picocli.CommandLine.Option;

/**
 * {@code --host} and {@code --port} of both servers (a picocli mixin): the command line wins over
 * the config file and the environment.
 */
public final class ListenOptions {

  @Option(names = "--host", description = "address to bind (default: the config's host, else 127.0.0.1)") String host;
  @Option(names = "--port", description = "port to listen on (default: the config's port, else the server's own; "
      + "0 picks a free one)") Integer port;

  /** @return {@code config} with the command line's host and port put in */
  public JsonObject applyTo(JsonObject config) {
    if (host != null) {
      config.put("host", host);
    }
    if (port != null) {
      config.put("port", port);
    }
    return config;
  }
}
