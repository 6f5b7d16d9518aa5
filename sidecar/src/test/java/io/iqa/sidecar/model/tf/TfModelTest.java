package io.iqa.sidecar.model.tf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.sidecar.model.ImageInput;
import io.iqa.sidecar.model.Score;
import io.iqa.sidecar.model.tf.TfModelSpec.Kind;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TfModelTest {

  @TempDir
  Path dir;

  private static final float[] P = {0, 0, 0.1f, 0.2f, 0.4f, 0.2f, 0.1f, 0, 0, 0};

  private static BufferedImage image(int r, int g, int b, int w, int h) {
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    Graphics2D gr = img.createGraphics();
    gr.setColor(new Color(r, g, b));
    gr.fillRect(0, 0, w, h);
    gr.dispose();
    return img;
  }

  private static ImageInput solid(int r, int g, int b, int w, int h) {
    return ImageInput.of(image(r, g, b, w, h));
  }

  @Test
  void nimaScoreIsTheMeanOfAKnownDistributionForEveryImageOfABatch() throws Exception {
    Path export = TestSavedModels.nima(dir.resolve("nima"), "image_quality", new float[10], P);
    try (TfModel nima = new TfModel(TfModelSpec.of("nima_aesthetic", Kind.NIMA, export))) {
      List<Score> scores = nima.scoreNima(List.of(solid(10, 20, 30, 50, 40), solid(200, 200, 200, 300, 224),
          solid(0, 0, 0, 224, 224)));
      assertEquals(3, scores.size());
      for (Score s : scores) {
        assertEquals(5.0, s.value(), 1e-5, "sum(i * p_i)");
        assertEquals(Math.sqrt(1.2), s.std(), 1e-5, "std of the distribution");
      }
      assertEquals("cpu", nima.loaded().device(), "no NVIDIA device on this machine");
      assertTrue(nima.loaded().loadMs() >= 0);
    }
  }

  @Test
  void nimaPreprocessingIsPlainResizeAndMobileNetScaling() throws Exception {
    float[] e0 = new float[10];
    e0[0] = 1;
    Path export = TestSavedModels.nima(dir.resolve("probe"), "image_quality", e0, new float[10]);
    try (TfModel nima = new TfModel(TfModelSpec.of("probe", Kind.NIMA, export))) {
      // A constant image must arrive as a tensor whose every value is v / 127.5 - 1.
      for (int v : new int[] {0, 51, 102, 255}) {
        float[] row = nima.runNima(List.of(solid(v, v, v, 640, 480))).get(0);
        assertEquals(v / 127.5f - 1f, row[0], 1e-6f, "mean of the input tensor for gray " + v);
      }
    }
    org.tensorflow.ndarray.buffer.FloatDataBuffer tensor = org.tensorflow.ndarray.buffer.DataBuffers.ofFloats(224 * 224 * 3);
    long end = TfModel.preprocessNima(solid(255, 0, 51, 17, 33).rgb(224, 224, io.iqa.sidecar.image.Fit.STRETCH),
        tensor, 0);
    assertEquals(tensor.size(), end);
    for (long i = 0; i < tensor.size(); i += 3) {
      assertEquals(1f, tensor.getFloat(i), 1e-6f);
      assertEquals(-1f, tensor.getFloat(i + 1), 1e-6f);
      assertEquals(51 / 127.5f - 1f, tensor.getFloat(i + 2), 1e-6f);
    }
  }

  @Test
  void askingForCudaWithoutItRunsOnCpuAndSaysWhy() throws Exception {
    Path export = TestSavedModels.nima(dir.resolve("gpu"), "image_quality", new float[10], P);
    TfModelSpec base = TfModelSpec.of("nima", Kind.NIMA, export);
    TfModelSpec cuda = new TfModelSpec(base.name(), base.kind(), base.dir(), base.tag(), base.signatureKey(),
        base.inputName(), base.outputName(), "cuda:0", true, 0.4);
    try (TfModel nima = new TfModel(cuda)) {
      if (!java.nio.file.Files.exists(Path.of("/dev/nvidiactl"))) {
        assertEquals("cpu", nima.loaded().device());
        assertTrue(nima.loaded().fallbackReason().startsWith("asked for cuda:0 but"), nima.loaded().fallbackReason());
      }
      assertEquals(5.0, nima.scoreNima(List.of(solid(1, 2, 3, 8, 8))).get(0).value(), 1e-5, "still scores");
    }
    TfModelSpec bad = new TfModelSpec(base.name(), base.kind(), base.dir(), base.tag(), base.signatureKey(),
        base.inputName(), base.outputName(), "gpu0", true, 0);
    assertThrows(IllegalArgumentException.class, () -> new TfModel(bad));
  }

  @Test
  void musiqReceivesTheOriginalBytesUnchanged() throws Exception {
    BufferedImage img = image(120, 60, 30, 64, 48);
    ByteArrayOutputStream jpeg = new ByteArrayOutputStream();
    ImageIO.write(img, "jpeg", jpeg);
    byte[] bytes = jpeg.toByteArray();
    try (TfModel length = new TfModel(TfModelSpec.of("musiq_len", Kind.MUSIQ, TestSavedModels.musiqLength(dir.resolve("l"))));
        TfModel decode = new TfModel(TfModelSpec.of("musiq_spaq", Kind.MUSIQ, TestSavedModels.musiqDecode(dir.resolve("d"))))) {
      assertEquals(bytes.length, length.scoreMusiq(bytes).value(), 0, "the model saw a different number of bytes");
      // Decoded in-graph by TensorFlow's own JPEG decoder: the mean of (120, 60, 30) is 70.
      assertEquals(70, decode.scoreMusiq(bytes).value(), 3);
    }
  }

  @Test
  void aSignatureMismatchIsAStartUpErrorNamingExpectedAndFound() throws Exception {
    Path wrongKey = TestSavedModels.nima(dir.resolve("wrong"), "serving_default", new float[10], P);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> new TfModel(TfModelSpec.of("nima_technical", Kind.NIMA, wrongKey)));
    assertTrue(e.getMessage().contains("expects signature 'image_quality' with input 'input_image' and output "
        + "'quality_prediction'") && e.getMessage().contains("'serving_default': inputs [input_image]"), e.getMessage());

    Path musiq = TestSavedModels.musiqLength(dir.resolve("m"));
    IllegalArgumentException asNima = assertThrows(IllegalArgumentException.class,
        () -> new TfModel(TfModelSpec.of("x", Kind.NIMA, musiq).withSignature("serving_default", "image_bytes_tensor",
            "output_0")));
    assertTrue(asNima.getMessage().contains("DT_FLOAT") && asNima.getMessage().contains("DT_STRING"), asNima.getMessage());
  }
}
