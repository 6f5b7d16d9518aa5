package io.iqa.bench;

import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** Where {@code ../shared/models} is: the NIMA test model (a real-size TensorFlow export) the benchmarks use when it is there. */
final class SharedModels {

  @Option(names = "--shared-models", defaultValue = "../shared/models",
      description = "folder with nima-mobilenet-random; what needs it is skipped when absent") Path dir;

  /** @return the NIMA test model's folder, absolute */
  Path nima() {
    return dir.resolve("nima-mobilenet-random").toAbsolutePath().normalize();
  }

  boolean hasNima() {
    return Files.isRegularFile(nima().resolve("saved_model.pb"));
  }

  /** @return the sidecar model entry for it, named {@code nima_aesthetic} */
  JsonObject nimaEntry() {
    return new JsonObject().put("name", "nima_aesthetic").put("backend", "tensorflow").put("kind", "nima")
        .put("dir", nima().toString());
  }
}
