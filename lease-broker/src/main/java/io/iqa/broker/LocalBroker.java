package io.iqa.broker;

import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A fresh broker (no earlier state) started inside a Vert.x this program already runs, on a free
 * loopback port: what the tests, the benchmarks and a program that embeds a broker start.
 */
public final class LocalBroker {

  private LocalBroker() {
  }

  /**
   * Starts it and waits for it (up to 60 s; call it off Vert.x's threads). @throws
   * IllegalStateException when it did not start in time; the start's own failure when it failed
   *
   * @param gpus devices 0 to {@code gpus - 1} of unknown VRAM, unless {@code config} lists its own
   *     {@code gpus} (0: none listed, the broker asks {@code nvidia-smi})
   * @param config more of the broker's config ({@link BrokerOptions}); port 0 unless it names one
   * @return its URL
   */
  public static String start(Vertx vertx, int gpus, JsonObject config) {
    JsonObject json = config.copy();
    if (!json.containsKey("port")) {
      json.put("port", 0);
    }
    if (gpus > 0 && !json.containsKey("gpus")) {
      JsonArray devices = new JsonArray();
      for (int i = 0; i < gpus; i++) {
        devices.add(new JsonObject().put("index", i).put("vram_mb", 0));
      }
      json.put("gpus", devices);
    }
    BrokerVerticle broker = new BrokerVerticle(BrokerOptions.read(json), true);
    try {
      vertx.deployVerticle(broker).await(60, TimeUnit.SECONDS);
    } catch (TimeoutException e) {
      throw new IllegalStateException("the broker did not start within 60 s", e);
    }
    return "http://127.0.0.1:" + broker.actualPort();
  }

  /** {@link #start(Vertx, int, JsonObject)} with nothing more configured. */
  public static String start(Vertx vertx, int gpus) {
    return start(vertx, gpus, new JsonObject());
  }
}
