package io.iqa.sidecar.model.builtin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtSession;
import io.iqa.sidecar.model.onnx.OnnxModel;
import io.iqa.sidecar.samples.SampleImages;
import java.awt.image.BufferedImage;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The default model set's scores mean something: each degradation lowers its own score. */
class TechnicalModelsTest {

  private static final Map<String, OnnxModel> MODELS = new LinkedHashMap<>();
  private static BufferedImage scene;

  @BeforeAll
  static void load() throws Exception {
    for (String name : TechnicalModels.NAMES) {
      MODELS.put(name, new OnnxModel(io.iqa.sidecar.model.onnx.OnnxDevice.environment(), TechnicalModels.spec(name),
          new OrtSession.SessionOptions()));
    }
    scene = SampleImages.scene(256);
  }

  private static Map<String, Double> scores(BufferedImage img) throws Exception {
    Map<String, Double> out = new LinkedHashMap<>();
    for (Map.Entry<String, OnnxModel> m : MODELS.entrySet()) {
      out.put(m.getKey(), m.getValue().score(List.of(io.iqa.sidecar.model.ImageInput.of(img))).get(0).value());
    }
    return out;
  }

  private static void assertLower(String score, Map<String, Double> clean, Map<String, Double> worse, String what) {
    System.out.printf("%s: %s %.1f -> %.1f%n", what, score, clean.get(score), worse.get(score));
    assertTrue(worse.get(score) < clean.get(score) - 5, what + " should lower " + score + " clearly: "
        + clean.get(score) + " -> " + worse.get(score));
  }

  @Test
  void scoresAreInRangeAndDeterministic() throws Exception {
    Map<String, Double> a = scores(scene);
    assertEquals(a, scores(scene));
    a.forEach((k, v) -> assertTrue(v >= 0 && v <= 100, k + " = " + v));
    assertTrue(Arrays.equals(TechnicalModels.spec("tech_noise").model(), TechnicalModels.spec("tech_noise").model()),
        "the built-in models must be made identically");
  }

  @Test
  void blurLowersSharpness() throws Exception {
    assertLower("tech_sharpness", scores(scene), scores(SampleImages.blur(scene, 3)), "a 7x7 box blur");
  }

  @Test
  void overExposureLowersExposure() throws Exception {
    assertLower("tech_exposure", scores(scene), scores(SampleImages.perChannel(scene, v -> v + 110)), "adding 110 to every channel");
  }

  @Test
  void noiseLowersTheNoiseScore() throws Exception {
    Random rnd = new Random(7);
    assertLower("tech_noise", scores(scene), scores(SampleImages.perChannel(scene, v -> v + (int) Math.round(rnd.nextGaussian() * 20))),
        "gaussian noise of sigma 20");
  }

  @Test
  void flatteningLowersContrastAndGrayLowersColourfulness() throws Exception {
    Map<String, Double> clean = scores(scene);
    assertLower("tech_contrast", clean, scores(SampleImages.perChannel(scene, v -> 128 + (v - 128) / 4)), "quartering contrast");
    assertLower("tech_colorfulness", clean, scores(SampleImages.gray(scene)), "removing colour");
  }
}
