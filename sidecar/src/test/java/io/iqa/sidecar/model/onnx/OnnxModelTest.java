package io.iqa.sidecar.model.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.iqa.sidecar.model.ImageInput;
import io.iqa.sidecar.model.Score;
import io.iqa.sidecar.model.onnx.OnnxModelWriter.Attribute;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** ONNX models the test writes itself, run through ONNX Runtime: every output mode, a batch of 8. */
class OnnxModelTest {

  private static final OrtEnvironment ENV = OnnxDevice.environment();
  private static final float[] ZERO = {0, 0, 0};
  private static final float[] ONE = {1, 1, 1};

  @TempDir
  Path dir;

  /** x [N,3,4,4] (or [N,4,4,3]) -> mean over pixels -> [N,3] x W [3,k] + B [k] -> [N,k]. */
  private Path linearModel(String file, boolean nhwc, int k, float[] w, float[] b) throws Exception {
    Path path = dir.resolve(file);
    new OnnxModelWriter("linear")
        .input("image", OnnxModelWriter.FLOAT, nhwc ? new long[] {-1, 4, 4, 3} : new long[] {-1, 3, 4, 4})
        .output("score", OnnxModelWriter.FLOAT, -1, k)
        .initializer("W", new long[] {3, k}, w)
        .initializer("B", new long[] {k}, b)
        .node("ReduceMean", List.of("image"), List.of("m"), Attribute.ints("axes", nhwc ? new long[] {1, 2}
            : new long[] {2, 3}), Attribute.integer("keepdims", 0))
        .node("MatMul", List.of("m", "W"), List.of("y"))
        .node("Add", List.of("y", "B"), List.of("score"))
        .write(path, 13);
    return path;
  }

  private OnnxModel load(Path file, boolean nhwc, float[] mean, float[] std, OutputMode mode) throws Exception {
    return new OnnxModel(ENV, new OnnxModelSpec("test", file, null, nhwc, 4, 4, false, mean, std, mode),
        new OrtSession.SessionOptions());
  }

  private static ImageInput in(BufferedImage img) {
    return ImageInput.of(img);
  }

  private static BufferedImage solid(Color c, int w, int h) {
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = img.createGraphics();
    g.setColor(c);
    g.fillRect(0, 0, w, h);
    g.dispose();
    return img;
  }

  private static BufferedImage gray(int v) {
    return solid(new Color(v, v, v), 40, 30);
  }

  @Test
  void identityAndSigmoidReadTheFirstOutput() throws Exception {
    Path file = linearModel("mean.onnx", false, 1, new float[] {1 / 3f, 1 / 3f, 1 / 3f}, new float[] {0});
    try (OnnxModel identity = load(file, false, ZERO, ONE, OutputMode.IDENTITY);
        OnnxModel sigmoid = load(file, false, ZERO, ONE, OutputMode.SIGMOID)) {
      assertEquals(102 / 255.0, identity.score(List.of(in(gray(102)))).get(0).value(), 1e-5);
      assertEquals(1 / (1 + Math.exp(-102 / 255.0)), sigmoid.score(List.of(in(gray(102)))).get(0).value(), 1e-5);
      assertTrue(identity.loaded().loadMs() >= 0);
    }
  }

  @Test
  void distributionModesGiveMeanAndStdOverScoresOneToN() throws Exception {
    float[] p = {0, 0, 0.1f, 0.2f, 0.4f, 0.2f, 0.1f, 0, 0, 0};
    Path probs = linearModel("dist.onnx", false, 10, new float[30], p);
    try (OnnxModel model = load(probs, false, ZERO, ONE, OutputMode.MEAN_OF_DISTRIBUTION)) {
      Score s = model.score(List.of(in(gray(10)))).get(0);
      assertEquals(5.0, s.value(), 1e-5, "sum(i * p_i) of a distribution centred on 5");
      assertEquals(Math.sqrt(0.1 * 4 + 0.2 * 1 + 0 + 0.2 * 1 + 0.1 * 4), s.std(), 1e-5);
    }
    float[] logits = new float[10];
    logits[9] = 20; // softmax puts nearly everything on score 10
    Path raw = linearModel("logits.onnx", false, 10, new float[30], logits);
    try (OnnxModel model = load(raw, false, ZERO, ONE, OutputMode.SOFTMAX_MEAN)) {
      Score s = model.score(List.of(in(gray(10)))).get(0);
      assertEquals(10.0, s.value(), 1e-3);
      assertTrue(s.std() < 0.01, "std " + s.std());
    }
    Score uniform = Score.ofDistribution(new float[] {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, true);
    assertEquals(5.5, uniform.value(), 1e-9);
    assertEquals(Math.sqrt(8.25), uniform.std(), 1e-9);
  }

  @Test
  void aBatchOfEightIsOneRunWithOneScorePerImageInOrder() throws Exception {
    Path file = linearModel("mean.onnx", false, 1, new float[] {1 / 3f, 1 / 3f, 1 / 3f}, new float[] {0});
    try (OnnxModel model = load(file, false, ZERO, ONE, OutputMode.IDENTITY)) {
      List<ImageInput> batch = new ArrayList<>();
      for (int i = 0; i < 8; i++) {
        batch.add(in(gray(i * 30)));
      }
      List<Score> scores = model.score(batch);
      assertEquals(8, scores.size());
      for (int i = 0; i < 8; i++) {
        assertEquals(i * 30 / 255.0, scores.get(i).value(), 1e-5, "image " + i);
        assertEquals(model.score(List.of(batch.get(i))).get(0).value(), scores.get(i).value(), 1e-6,
            "batched and single scores differ for image " + i);
      }
    }
  }

  @Test
  void layoutChannelOrderAndNormalisationFollowTheSpec() throws Exception {
    // NHWC model that reads only the red channel.
    Path red = linearModel("red.onnx", true, 1, new float[] {1, 0, 0}, new float[] {0});
    try (OnnxModel model = load(red, true, ZERO, ONE, OutputMode.IDENTITY)) {
      List<Score> s = model.score(List.of(in(solid(Color.RED, 8, 8)), in(solid(Color.BLUE, 8, 8))));
      assertEquals(1.0, s.get(0).value(), 1e-5, "pure red must read 1 on the red channel");
      assertEquals(0.0, s.get(1).value(), 1e-5, "pure blue must read 0 on the red channel");
    }
    Path mean = linearModel("mean.onnx", false, 1, new float[] {1 / 3f, 1 / 3f, 1 / 3f}, new float[] {0});
    float[] half = {0.5f, 0.5f, 0.5f};
    try (OnnxModel model = load(mean, false, half, half, OutputMode.IDENTITY)) {
      assertEquals(1.0, model.score(List.of(in(gray(255)))).get(0).value(), 1e-5, "(1 - 0.5) / 0.5");
      assertEquals(-1.0, model.score(List.of(in(gray(0)))).get(0).value(), 1e-5, "(0 - 0.5) / 0.5");
    }
  }

  @Test
  void centerCropKeepsTheMiddleWhereStretchSqueezesEverything() throws Exception {
    // 12x4: blue | red | blue in thirds. Cropped to a square the model sees only red.
    BufferedImage bands = solid(Color.BLUE, 12, 4);
    Graphics2D g = bands.createGraphics();
    g.setColor(Color.RED);
    g.fillRect(4, 0, 4, 4);
    g.dispose();
    Path red = linearModel("red.onnx", false, 1, new float[] {1, 0, 0}, new float[] {0});
    try (OnnxModel crop = new OnnxModel(ENV, new OnnxModelSpec("crop", red, null, false, 4, 4, true, ZERO, ONE,
            OutputMode.IDENTITY), new OrtSession.SessionOptions());
        OnnxModel stretch = load(red, false, ZERO, ONE, OutputMode.IDENTITY)) {
      assertEquals(1.0, crop.score(List.of(in(bands))).get(0).value(), 0.02, "center crop sees only the red middle");
      double squeezed = stretch.score(List.of(in(bands))).get(0).value();
      assertTrue(squeezed > 0.2 && squeezed < 0.6, "stretch sees all three bands: " + squeezed);
    }
  }

  @Test
  void aModelThatDoesNotMatchItsSpecFailsAtLoadSayingWhatItFound() throws Exception {
    Path nchw = linearModel("mean.onnx", false, 1, new float[] {1, 1, 1}, new float[] {0});
    IllegalArgumentException layout = assertThrows(IllegalArgumentException.class,
        () -> load(nchw, true, ZERO, ONE, OutputMode.IDENTITY));
    assertTrue(layout.getMessage().contains("NHWC") && layout.getMessage().contains("[-1, 3, 4, 4]"),
        layout.getMessage());
    IllegalArgumentException name = assertThrows(IllegalArgumentException.class, () -> new OnnxModel(ENV,
        new OnnxModelSpec("test", nchw, "input_image", false, 4, 4, false, ZERO, ONE, OutputMode.IDENTITY),
        new OrtSession.SessionOptions()));
    assertTrue(name.getMessage().contains("'input_image'") && name.getMessage().contains("[image]"),
        name.getMessage());
    OnnxModel model = load(nchw, false, ZERO, ONE, OutputMode.IDENTITY);
    model.close();
    assertThrows(IllegalStateException.class, () -> model.score(List.of(in(gray(1)))));
  }
}
