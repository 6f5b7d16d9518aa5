package io.iqa.sidecar.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.iqa.sidecar.image.ImageDecodeException.Kind;
import java.awt.Color;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageDecoderTest {

  private final ImageDecoder decoder = new ImageDecoder();

  @Test
  void decodesEverySupportedFormatToUprightRgb(@TempDir Path dir) throws Exception {
    BufferedImage src = TestImages.marked(BufferedImage.TYPE_INT_RGB);
    Map<String, byte[]> files = new LinkedHashMap<>();
    files.put("png", TestImages.encode(src, "png"));
    files.put("bmp", TestImages.encode(src, "bmp"));
    files.put("gif", TestImages.encode(src, "gif"));
    files.put("jpeg", TestImages.encode(src, "jpeg"));
    files.put("webp", TestImages.webp(src, dir));
    for (Map.Entry<String, byte[]> f : files.entrySet()) {
      DecodedImage img = decoder.decode(f.getValue());
      assertEquals(f.getKey(), img.format());
      assertEquals(40, img.width(), f.getKey());
      assertEquals(20, img.height(), f.getKey());
      assertEquals(BufferedImage.TYPE_INT_RGB, img.toBufferedImage().getType());
      assertColor(Color.RED, img.rgbAt(10, 10), f.getKey() + " left half");
      assertColor(Color.BLUE, img.rgbAt(30, 10), f.getKey() + " right half");
    }
  }

  @Test
  void exifOrientationIsApplied() throws Exception {
    byte[] jpeg = TestImages.encode(TestImages.marked(BufferedImage.TYPE_INT_RGB), "jpeg");
    DecodedImage rotated = decoder.decode(TestImages.withExifOrientation(jpeg, 6));
    assertEquals(6, rotated.exifOrientation());
    assertEquals(20, rotated.width(), "orientation 6 turns 40x20 into 20x40");
    assertEquals(40, rotated.height());
    // Rotated 90 degrees clockwise: the green top-left block is now top-right, red on top.
    assertColor(Color.GREEN, rotated.rgbAt(18, 1), "green corner after rotation");
    assertColor(Color.RED, rotated.rgbAt(10, 10), "red (left half) is now the top half");
    assertColor(Color.BLUE, rotated.rgbAt(10, 30), "blue is now the bottom half");

    DecodedImage upsideDown = decoder.decode(TestImages.withExifOrientation(jpeg, 3));
    assertEquals(40, upsideDown.width());
    assertColor(Color.GREEN, upsideDown.rgbAt(38, 18), "orientation 3 puts the corner bottom-right");
    assertEquals(1, decoder.decode(jpeg).exifOrientation());
  }

  @Test
  void grayscaleBecomesRgbAndAlphaIsFlattenedOntoWhite() throws Exception {
    BufferedImage gray = new BufferedImage(8, 8, BufferedImage.TYPE_BYTE_GRAY);
    gray.getRaster().setSample(2, 2, 0, 100);
    DecodedImage g = decoder.decode(TestImages.encode(gray, "png"));
    assertEquals(new Color(100, 100, 100).getRGB(), g.rgbAt(2, 2) | 0xFF000000);

    BufferedImage alpha = new BufferedImage(8, 8, BufferedImage.TYPE_INT_ARGB);
    alpha.setRGB(1, 1, 0xFF0000FF);    // opaque blue
    alpha.setRGB(2, 2, 0x00000000);    // fully transparent
    DecodedImage a = decoder.decode(TestImages.encode(alpha, "png"));
    assertColor(Color.BLUE, a.rgbAt(1, 1), "opaque pixel");
    assertColor(Color.WHITE, a.rgbAt(2, 2), "transparent pixel over white");
  }

  @Test
  void cmykJpegComesOutAsRgb() throws Exception {
    // Magenta + yellow ink, no cyan, no black: red on paper.
    DecodedImage red = decoder.decode(TestImages.cmykJpeg(16, 16, 0, 255, 255, 0));
    assertEquals(BufferedImage.TYPE_INT_RGB, red.toBufferedImage().getType());
    Color c = new Color(red.rgbAt(8, 8));
    assertTrue(c.getRed() > 150 && c.getGreen() < 90 && c.getBlue() < 90, "CMYK red decoded as " + c);
    Color white = new Color(decoder.decode(TestImages.cmykJpeg(16, 16, 0, 0, 0, 0)).rgbAt(8, 8));
    assertTrue(white.getRed() > 220 && white.getGreen() > 220 && white.getBlue() > 220, "no ink decoded as " + white);
  }

  @Test
  void theMalformedCorpusYieldsTypedErrorsOnly() throws Exception {
    Map<String, Object[]> corpus = TestImages.malformedCorpus();
    for (Map.Entry<String, Object[]> c : corpus.entrySet()) {
      ImageDecodeException e = assertThrows(ImageDecodeException.class, () -> decoder.decode((byte[]) c.getValue()[0]),
          c.getKey() + " was accepted");
      assertEquals(c.getValue()[1], e.kind(), c.getKey() + ": " + e.getMessage());
      assertTrue(e.getMessage() != null && !e.getMessage().isBlank(), c.getKey() + " has no message");
    }
  }

  @Test
  void limitsOnBytesAndPixelsAreEnforcedBeforeDecoding() throws Exception {
    byte[] png = TestImages.encode(TestImages.marked(BufferedImage.TYPE_INT_RGB), "png");
    ImageDecodeException bytes = assertThrows(ImageDecodeException.class,
        () -> new ImageDecoder(png.length - 1, 1_000_000).decode(png));
    assertEquals(Kind.TOO_LARGE, bytes.kind());
    assertEquals(413, bytes.errorCode().status());
    assertEquals("too_large", bytes.errorCode().wireName());
    ImageDecodeException pixels = assertThrows(ImageDecodeException.class,
        () -> new ImageDecoder(1_000_000, 799).decode(png));
    assertEquals(Kind.TOO_MANY_PIXELS, pixels.kind());
    assertTrue(pixels.getMessage().contains("40x20"), pixels.getMessage());
    assertEquals(40, new ImageDecoder(1_000_000, 800).decode(png).width(), "exactly at the limit is fine");
  }

  @Test
  void randomlyDamagedImagesNeverThrowAnythingButTheTypedError() throws Exception {
    Random rnd = new Random(42);
    byte[][] seeds = {
        TestImages.encode(TestImages.marked(BufferedImage.TYPE_INT_RGB), "jpeg"),
        TestImages.encode(TestImages.marked(BufferedImage.TYPE_INT_RGB), "png"),
        TestImages.encode(TestImages.marked(BufferedImage.TYPE_INT_RGB), "gif"),
        TestImages.encode(TestImages.marked(BufferedImage.TYPE_INT_RGB), "bmp")};
    int decoded = 0;
    int refused = 0;
    for (int i = 0; i < 400; i++) {
      byte[] b = seeds[i % seeds.length].clone();
      int flips = 1 + rnd.nextInt(8);
      for (int f = 0; f < flips; f++) {
        b[rnd.nextInt(b.length)] = (byte) rnd.nextInt(256);
      }
      if (rnd.nextInt(4) == 0) {
        b = Arrays.copyOf(b, rnd.nextInt(b.length));
      }
      try {
        decoder.decode(b);
        decoded++;
      } catch (ImageDecodeException e) {
        refused++;
      } catch (Throwable t) {
        fail("damaged image #" + i + " escaped as " + t, t);
      }
    }
    assertTrue(decoded > 0 && refused > 0, "decoded " + decoded + ", refused " + refused);
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  /** Colours within 40 per channel: JPEG is lossy. */
  private static void assertColor(Color expected, int actualRgb, String what) {
    Color a = new Color(actualRgb);
    boolean close = Math.abs(a.getRed() - expected.getRed()) <= 40 && Math.abs(a.getGreen() - expected.getGreen()) <= 40
        && Math.abs(a.getBlue() - expected.getBlue()) <= 40;
    assertTrue(close, what + ": expected " + expected + ", got " + a);
  }
}
