package io.iqa.cli;

import io.vertx.core.Vertx;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

/** What every iqa test starts with: a folder of its own and an embedded broker ({@link Iqa#startBroker}). */
abstract class IqaCliFixture {

  @TempDir
  Path dir;
  Vertx vertx;
  String brokerUrl;

  @BeforeEach
  void startBroker() throws Exception {
    vertx = Vertx.vertx();
    brokerUrl = Iqa.startBroker(vertx);
  }

  @AfterEach
  void stopVertx() throws Exception {
    vertx.close().await(60, TimeUnit.SECONDS);
  }
}
