package io.iqa.server;

import io.iqa.protocol.config.ConfigException;
import io.iqa.protocol.config.ConfigReader;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** A server's JSON config file, read whole: what the broker and the sidecar read before their options. */
public final class ConfigFile {

  private ConfigFile() {
  }

  /** @throws ConfigException when the file is unreadable or not a JSON object */
  public static JsonObject read(Path file) {
    try {
      String text = Files.readString(file);
      ConfigReader.tree(text); // refuses a key given twice (JSON lets the last one win silently)
      return new JsonObject(text);
    } catch (IOException e) {
      throw new ConfigException("cannot read config file " + file + ": " + e.getMessage(), e);
    } catch (DecodeException | ConfigException e) {
      throw new ConfigException("config file " + file + " is not a JSON object: " + e.getMessage(), e);
    }
  }
}
