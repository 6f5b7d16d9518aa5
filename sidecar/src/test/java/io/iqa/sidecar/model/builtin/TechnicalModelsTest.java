package io.iqa.sidecar.model.builtin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.iqa.sidecar.model.onnx.OnnxModel;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.GradientPaint;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.awt.image.ConvolveOp;
import java.awt.image.Kernel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.IntUnaryOperator;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The default model set's scores mean something: each degradation lowers its own score. */
class TechnicalModelsTest {

  @TempDir
  static Path dir;
  private static final Map<String, OnnxModel> MODELS = new LinkedHashMap<>();
  private static BufferedImage scene;

  @BeforeAll
  static void load() throws Exception {
    for (String name : TechnicalModels.NAMES) {
      MODELS.put(name, new OnnxModel(OrtEnvironment.getEnvironment(), TechnicalModels.write(name, dir),
          new OrtSession.SessionOptions()));
    }
    scene = scene();
  }

  /** A colourful, detailed, well-exposed 256x256 scene: gradient sky, shapes, lines, text. */
  static BufferedImage scene() {
    BufferedImage img = new BufferedImage(256, 256, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = img.createGraphics();
    g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
    g.setPaint(new GradientPaint(0, 0, new Color(70, 130, 200), 0, 256, new Color(230, 200, 150)));
    g.fillRect(0, 0, 256, 256);
    g.setColor(new Color(200, 40, 40));
    g.fillOval(20, 30, 90, 90);
    g.setColor(new Color(30, 150, 60));
    g.fillRect(130, 120, 100, 110);
    g.setColor(new Color(240, 220, 40));
    g.fillPolygon(new int[] {60, 120, 20}, new int[] {150, 240, 240}, 3);
    g.setStroke(new BasicStroke(2));
    g.setColor(Color.BLACK);
    for (int i = 0; i < 256; i += 12) {
      g.drawLine(i, 0, 256 - i, 256);
    }
    g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 28));
    g.setColor(Color.WHITE);
    g.drawString("IQA test 42", 120, 60);
    g.dispose();
    return img;
  }

  private static Map<String, Double> scores(BufferedImage img) throws Exception {
    Map<String, Double> out = new LinkedHashMap<>();
    for (Map.Entry<String, OnnxModel> m : MODELS.entrySet()) {
      out.put(m.getKey(), m.getValue().score(List.of(img)).get(0).value());
    }
    return out;
  }

  private static BufferedImage blur(BufferedImage img, int radius) {
    int size = 2 * radius + 1;
    float[] k = new float[size * size];
    Arrays.fill(k, 1f / k.length);
    BufferedImage padded = new BufferedImage(img.getWidth(), img.getHeight(), BufferedImage.TYPE_INT_RGB);
    return new ConvolveOp(new Kernel(size, size, k), ConvolveOp.EDGE_NO_OP, null).filter(img, padded);
  }

  private static BufferedImage perChannel(BufferedImage img, IntUnaryOperator f) {
    BufferedImage out = new BufferedImage(img.getWidth(), img.getHeight(), BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < img.getHeight(); y++) {
      for (int x = 0; x < img.getWidth(); x++) {
        int p = img.getRGB(x, y);
        int r = clamp(f.applyAsInt(p >> 16 & 0xFF));
        int g = clamp(f.applyAsInt(p >> 8 & 0xFF));
        int b = clamp(f.applyAsInt(p & 0xFF));
        out.setRGB(x, y, r << 16 | g << 8 | b);
      }
    }
    return out;
  }

  private static int clamp(int v) {
    return Math.max(0, Math.min(255, v));
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
    Path again = Files.createTempDirectory("again");
    assertTrue(Arrays.equals(Files.readAllBytes(TechnicalModels.write("tech_noise", again).file()),
        Files.readAllBytes(dir.resolve("tech_noise.onnx"))), "the built-in models must be written identically");
  }

  @Test
  void blurLowersSharpness() throws Exception {
    assertLower("tech_sharpness", scores(scene), scores(blur(scene, 3)), "a 7x7 box blur");
  }

  @Test
  void overExposureLowersExposure() throws Exception {
    assertLower("tech_exposure", scores(scene), scores(perChannel(scene, v -> v + 110)), "adding 110 to every channel");
  }

  @Test
  void noiseLowersTheNoiseScore() throws Exception {
    Random rnd = new Random(7);
    assertLower("tech_noise", scores(scene), scores(perChannel(scene, v -> v + (int) Math.round(rnd.nextGaussian() * 20))),
        "gaussian noise of sigma 20");
  }

  @Test
  void flatteningLowersContrastAndGrayLowersColourfulness() throws Exception {
    Map<String, Double> clean = scores(scene);
    assertLower("tech_contrast", clean, scores(perChannel(scene, v -> 128 + (v - 128) / 4)), "quartering contrast");
    BufferedImage gray = new BufferedImage(256, 256, BufferedImage.TYPE_BYTE_GRAY);
    gray.getGraphics().drawImage(scene, 0, 0, null);
    BufferedImage grayRgb = new BufferedImage(256, 256, BufferedImage.TYPE_INT_RGB);
    grayRgb.getGraphics().drawImage(gray, 0, 0, null);
    assertLower("tech_colorfulness", clean, scores(grayRgb), "removing colour");
  }
}
