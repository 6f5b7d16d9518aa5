package io.iqa.sidecar.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.protocol.config.ConfigException;
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
        new JsonObject().put("name", "tech_noise").put("backend", "builtin").put("device", "cpu")), dir)) {
      assertEquals(2, r.models().size());
      assertEquals("sharp", r.models().get(0).name());
      assertEquals("onnxruntime", r.models().get(0).loaded().backend());
      assertEquals("cpu", r.get("tech_noise").loaded().device());
      assertTrue(r.get("sharp").loaded().loadMs() >= 0);
      assertEquals(ModelRegistry.DEFAULT_MAX_BATCH, r.maxBatch());
    }
  }

  @Test
  void eachModelHasAScaleAndAnEntryMayStateItsOwn() {
    try (ModelRegistry r = ModelRegistry.load(config(
        new JsonObject().put("name", "tech_noise").put("backend", "builtin"),
        new JsonObject().put("name", "brisque").put("backend", "builtin"),
        new JsonObject().put("name", "sharp01").put("backend", "builtin").put("model", "tech_sharpness")
            .put("range", new JsonArray().add(0).add(1)).put("higher_is_better", false)), dir)) {
      assertEquals(new io.iqa.protocol.ScoreScale(0.0, 100.0, true), r.scale("tech_noise"));
      assertEquals(new io.iqa.protocol.ScoreScale(0.0, 100.0, false), r.scale("brisque"));
      assertEquals("cpu", r.get("brisque").loaded().device(), "BRISQUE runs on CPU");
      assertEquals(new io.iqa.protocol.ScoreScale(0.0, 1.0, false), r.scale("sharp01"), "the entry's own scale");
      assertEquals("0-1, lower is better", r.scale("sharp01").describe());
    }
    assertMessage(config(new JsonObject().put("name", "x").put("backend", "builtin").put("model", "tech_noise")
        .put("range", new JsonArray().add(5).add(1))), "models[0].range must be [low, high] with low < high");
  }

  @Test
  void badEntriesNameTheModelAndTheProblem() {
    assertMessage(new JsonObject().put("models", new JsonArray()), "no 'models' list");
    assertMessage(config(new JsonObject().put("name", "a b").put("backend", "builtin")),
        "models[0].name must be [A-Za-z0-9_.-]{1,64}, not \"a b\"");
    assertMessage(config(new JsonObject().put("name", "x").put("backend", "pytorch")), "backend must be");
    assertMessage(config(new JsonObject().put("name", "x").put("backend", "builtin").put("model", "tech_magic")),
        "models[0].model must be one of");
    assertMessage(config(new JsonObject().put("name", "x").put("backend", "onnxruntime").put("file", "missing.onnx")),
        "missing.onnx does not exist");
    assertMessage(config(new JsonObject().put("name", "x").put("backend", "onnxruntime").put("fle", "a.onnx")),
        "unknown config key 'models[0].fle'");
    assertMessage(config(new JsonObject().put("name", "n").put("backend", "tensorflow").put("kind", "vgg")
        .put("dir", ".")), "models[0].kind must be one of 'musiq', 'nima'");
    assertMessage(config(new JsonObject().put("name", "o").put("backend", "onnxruntime").put("file", ".")
        .put("width", "224")), "models[0].width must be a whole number between 1 and 8192, not \"224\" (a string)");
    assertMessage(config(new JsonObject().put("name", "t").put("backend", "builtin").put("model", "tech_noise"),
        new JsonObject().put("name", "t").put("backend", "builtin").put("model", "tech_noise")), "used twice");
    assertMessage(config(new JsonObject().put("name", "x").put("backend", "builtin").put("model", "tech_noise")
        .put("device", "tpu")), "device must be");
  }

  private void assertMessage(JsonObject config, String expected) {
    ConfigException e = assertThrows(ConfigException.class, () -> ModelRegistry.load(config, dir));
    assertTrue(e.getMessage().contains(expected), "'" + e.getMessage() + "' lacks '" + expected + "'");
  }

  /** Round 2: with lease.required and device cpu, the worker under the lease put every model on cuda:0. */
  @Test
  void aSetConfiguredForCpuStaysOnCpuUnderALease() {
    io.vertx.core.json.JsonObject config = new io.vertx.core.json.JsonObject().put("device", "cpu")
        .put("models", new io.vertx.core.json.JsonArray()
            .add(new io.vertx.core.json.JsonObject().put("name", "a").put("backend", "builtin"))
            .add(new io.vertx.core.json.JsonObject().put("name", "b").put("backend", "builtin").put("device", "cuda:0")));
    io.vertx.core.json.JsonObject leased = ModelRegistry.placed(config, "cuda:0");
    org.junit.jupiter.api.Assertions.assertEquals("cpu", leased.getString("device"), leased.encode());
    org.junit.jupiter.api.Assertions.assertFalse(leased.getJsonArray("models").getJsonObject(0).containsKey("device"));
    org.junit.jupiter.api.Assertions.assertEquals("cuda:0", leased.getJsonArray("models").getJsonObject(1)
        .getString("device"), "a model that asks for the GPU gets the leased one");
    io.vertx.core.json.JsonObject cpu = ModelRegistry.placed(config, "cpu");
    org.junit.jupiter.api.Assertions.assertEquals("cpu", cpu.getJsonArray("models").getJsonObject(1).getString("device"));
    io.vertx.core.json.JsonObject auto = ModelRegistry.placed(config.copy().put("device", "auto"), "cuda:0");
    org.junit.jupiter.api.Assertions.assertEquals("cuda:0", auto.getString("device"));
  }
}
