package io.iqa.sidecar.model.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtProvider;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Device choice on this build (CPU natives, no CUDA): asking for CUDA must fall back to CPU with a
 * reason, and the model must still load and score there.
 */
class OnnxDeviceTest {

  @Test
  void askingForCudaWithoutItRunsOnCpuAndSaysWhy(@TempDir Path dir) throws Exception {
    boolean cudaHere = OrtEnvironment.getAvailableProviders().contains(OrtProvider.CUDA);
    OnnxDevice device = OnnxDevice.choose("m", "cuda:0", 1024);
    if (cudaHere && device.fallbackReason() == null) {
      assertEquals("cuda:0", device.device(), "a machine with CUDA runs there");
      return;
    }
    assertEquals("cpu", device.device());
    assertTrue(device.fallbackReason().contains("cuda:0"), device.fallbackReason());

    Path file = dir.resolve("m.onnx");
    new OnnxModelWriter("g")
        .input("image", OnnxModelWriter.FLOAT, -1, 3, 2, 2)
        .output("score", OnnxModelWriter.FLOAT, -1)
        .node("ReduceMean", List.of("image"), List.of("score"),
            OnnxModelWriter.Attribute.ints("axes", 1, 2, 3), OnnxModelWriter.Attribute.integer("keepdims", 0))
        .write(file, 13);
    try (OnnxModel model = new OnnxModel(OnnxDevice.environment(), new OnnxModelSpec("m", file, null, false,
        2, 2, false, new float[3], new float[] {1, 1, 1}, OutputMode.IDENTITY), device.options())) {
      java.awt.image.BufferedImage white = new java.awt.image.BufferedImage(2, 2,
          java.awt.image.BufferedImage.TYPE_INT_RGB);
      for (int x = 0; x < 2; x++) {
        for (int y = 0; y < 2; y++) {
          white.setRGB(x, y, 0xFFFFFF);
        }
      }
      assertEquals(1.0, model.score(List.of(io.iqa.sidecar.model.ImageInput.of(white))).get(0).value(), 1e-6, "the CPU fallback still scores");
    }
  }

  @Test
  void cpuAndAutoAndBadNames() throws Exception {
    OnnxDevice cpu = OnnxDevice.choose("m", "cpu", 0);
    assertEquals("cpu", cpu.device());
    assertNull(cpu.fallbackReason());
    OnnxDevice auto = OnnxDevice.choose("m", "auto", 0);
    assertTrue(auto.device().equals("cpu") || auto.device().equals("cuda:0"), auto.device());
    IllegalArgumentException bad = assertThrows(IllegalArgumentException.class, () -> OnnxDevice.choose("m", "gpu", 0));
    assertTrue(bad.getMessage().contains("'auto', 'cpu' or 'cuda:N'"), bad.getMessage());
  }

  /**
   * Every session runs on the environment's one pool: loading the five built-in measures adds no
   * thread per model (a pool per session would add cores - 1 threads each, spinning between runs).
   */
  @Test
  void modelsShareOnePoolOfThreads() throws Exception {
    org.junit.jupiter.api.Assumptions.assumeTrue(Runtime.getRuntime().availableProcessors() > 1,
        "one core: a per-session pool would add no thread either");
    OnnxDevice.environment();
    int before = threads();
    List<OnnxModel> models = new java.util.ArrayList<>();
    try {
      for (String name : io.iqa.sidecar.model.builtin.TechnicalModels.NAMES) {
        models.add(new OnnxModel(OnnxDevice.environment(), io.iqa.sidecar.model.builtin.TechnicalModels.spec(name),
            OnnxDevice.choose(name, "cpu", 0)));
      }
      assertTrue(threads() - before < models.size(), "threads before " + before + ", after five models " + threads());
    } finally {
      models.forEach(OnnxModel::close);
    }
  }

  private static int threads() throws java.io.IOException {
    try (var tasks = java.nio.file.Files.list(Path.of("/proc/self/task"))) {
      return (int) tasks.count();
    }
  }
}
