package io.iqa.sidecar.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelRegistryTest {

  @TempDir
  Path dir;

  private static JsonObject config(JsonObject... models) {
    JsonArray list = new JsonArray();
    for (JsonObject m : models) {
      list.add(m);
    }
    return new JsonObject().put("models", list);
  }

  @Test
  void loadsEveryModelOnceInOrderAndReportsItsLoad() {
    try (ModelRegistry r = ModelRegistry.load(config(
        new JsonObject().put("name", "sharp").put("backend", "builtin").put("model", "tech_sharpness"),
        new JsonObject().put("name", "tech_noise").put("backend", "builtin").put("device", "cpu")), dir, dir)) {
      assertEquals(2, r.models().size());
      assertEquals("sharp", r.models().get(0).name());
      assertEquals("onnxruntime", r.models().get(0).backend());
      assertEquals("cpu", r.get("tech_noise").device());
      assertTrue(r.get("sharp").loadMs() >= 0);
      assertEquals(ModelRegistry.DEFAULT_MAX_BATCH, r.maxBatch());
    }
  }

  @Test
  void badEntriesNameTheModelAndTheProblem() {
    assertMessage(new JsonObject().put("models", new JsonArray()), "no 'models' list");
    assertMessage(config(new JsonObject().put("name", "a b").put("backend", "builtin")), "must match");
    assertMessage(config(new JsonObject().put("name", "x").put("backend", "pytorch")), "backend must be");
    assertMessage(config(new JsonObject().put("name", "x").put("backend", "builtin").put("model", "tech_magic")),
        "no built-in model 'tech_magic'");
    assertMessage(config(new JsonObject().put("name", "x").put("backend", "onnxruntime").put("file", "missing.onnx")),
        "missing.onnx does not exist");
    assertMessage(config(new JsonObject().put("name", "x").put("backend", "onnxruntime").put("fle", "a.onnx")),
        "unknown key 'fle'");
    assertMessage(config(new JsonObject().put("name", "n").put("backend", "tensorflow").put("kind", "vgg")
        .put("dir", ".")), "kind must be 'nima' or 'musiq'");
    assertMessage(config(new JsonObject().put("name", "t").put("backend", "builtin").put("model", "tech_noise"),
        new JsonObject().put("name", "t").put("backend", "builtin").put("model", "tech_noise")), "used twice");
    assertMessage(config(new JsonObject().put("name", "x").put("backend", "builtin").put("model", "tech_noise")
        .put("device", "tpu")), "device must be");
  }

  private void assertMessage(JsonObject config, String expected) {
    ModelConfigException e = assertThrows(ModelConfigException.class, () -> ModelRegistry.load(config, dir, dir));
    assertTrue(e.getMessage().contains(expected), "'" + e.getMessage() + "' lacks '" + expected + "'");
  }
}
