package io.iqa.sidecar.model.builtin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.sidecar.image.ImageDecoder;
import io.iqa.sidecar.model.ImageInput;
import io.iqa.sidecar.samples.DebianSamples;
import io.iqa.sidecar.samples.SampleImages;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * BRISQUE through OpenCV with the LIVE model files from the OpenCV jar, against OpenCV's own
 * published expectation, and its direction: distortions raise the score.
 */
class BrisqueModelTest {

  /** OpenCV's test_brisque.cpp: rubberwhale1.png scores 9.75448 (+-0.002 there). */
  private static final double OPENCV_RUBBERWHALE1 = 9.75448;

  private static BrisqueModel brisque;
  private static final ImageDecoder DECODER = new ImageDecoder();

  @BeforeAll
  static void load() throws Exception {
    brisque = BrisqueModel.load("brisque");
  }

  @AfterAll
  static void close() {
    brisque.close();
  }

  private static double score(byte[] encoded) throws Exception {
    try (ImageInput in = ImageInput.of(DECODER.decode(encoded), encoded)) {
      return brisque.score(List.of(in)).get(0).value();
    }
  }

  private static Path rubberwhale() throws Exception {
    return DebianSamples.file("opencv-doc", "/usr/share/doc/opencv-doc/examples/data/rubberwhale1.png");
  }

  @Test
  void rubberwhale1ScoresWhatOpenCvPublishes() throws Exception {
    double s = score(Files.readAllBytes(rubberwhale()));
    assertEquals(OPENCV_RUBBERWHALE1, s, 0.01, "BRISQUE of OpenCV's rubberwhale1.png");
    assertEquals("opencv", brisque.loaded().backend());
    assertFalse(brisque.scale().higherIsBetter(), "BRISQUE: lower is better");
    assertEquals(100.0, brisque.scale().max());
  }

  @Test
  void blurAndHeavyJpegCompressionRaiseTheScore() throws Exception {
    BufferedImage scene;
    try (var decoded = DECODER.decode(Files.readAllBytes(rubberwhale()))) {
      scene = decoded.toBufferedImage();
    }
    double clean = score(SampleImages.jpeg(scene, 0.95f));
    double blurred = score(SampleImages.jpeg(SampleImages.blur(scene, 3), 0.95f));
    double blocky = score(SampleImages.jpeg(scene, 0.05f));
    assertTrue(blurred > clean + 5, "blur must raise BRISQUE: clean " + clean + ", blurred " + blurred);
    assertTrue(blocky > clean + 5, "JPEG artefacts must raise BRISQUE: clean " + clean + ", q=0.05 " + blocky);
  }

  @Test
  void aLargePhotoIsScoredAtTheWorkingSizeAndDecodedAtAReducedScale() throws Exception {
    byte[] big = SampleImages.jpeg(SampleImages.scene(3000), 0.9f);
    try (ImageInput in = ImageInput.lazy(big, DECODER, brisque.need())) {
      assertEquals(2, in.decoded().reduction(), "3000 px: 1/2 still covers the 768 px working size, 1/4 does not");
      double large = brisque.score(List.of(in)).get(0).value();
      double small = score(SampleImages.jpeg(SampleImages.scene(768), 0.9f));
      assertTrue(Math.abs(large - small) < 15, "the same scene at 3000 and 768 px: " + large + " vs " + small);
    }
  }

}
