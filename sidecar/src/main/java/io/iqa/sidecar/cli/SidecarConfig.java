package io.iqa.sidecar.cli;

import io.iqa.server.ConfigFile;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/** Reads the sidecar's JSON config: a file, or the built-in default (the weight-free model set). */
final class SidecarConfig {

  private SidecarConfig() {
  }

  static JsonObject read(Path file) {
    if (file == null) {
      try (InputStream in = SidecarConfig.class.getResourceAsStream("/default-sidecar.json")) {
        return new JsonObject(new String(in.readAllBytes(), StandardCharsets.UTF_8));
      } catch (IOException e) {
        throw new IllegalStateException("built-in default config missing", e);
      }
    }
    return ConfigFile.read(file);
  }

  /** Relative model paths in a config file are relative to the file's folder. */
  static Path baseDir(Path file) {
    Path parent = file == null ? null : file.toAbsolutePath().getParent();
    return parent == null ? Path.of("").toAbsolutePath() : parent;
  }
}
