package io.iqa.sidecar.samples;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.GradientPaint;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.awt.image.ConvolveOp;
import java.awt.image.Kernel;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.function.IntUnaryOperator;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.ImageOutputStream;

/**
 * Draws the project's sample images: one scene and degraded copies of it (blurred, over-exposed,
 * noisy, flat, gray), so the default model set has something to tell apart. {@code samples/} in
 * the repository was written by {@code main}; run it again to regenerate them.
 */
public final class SampleImages {

  private SampleImages() {
  }

  public static void main(String[] args) throws IOException {
    Path dir = Path.of(args.length > 0 ? args[0] : "samples");
    Files.createDirectories(dir);
    BufferedImage scene = scene(512);
    write(scene, dir.resolve("scene.jpg"));
    write(blur(scene, 4), dir.resolve("scene-blurred.jpg"));
    write(perChannel(scene, v -> v + 110), dir.resolve("scene-overexposed.jpg"));
    Random rnd = new Random(7);
    write(perChannel(scene, v -> v + (int) Math.round(rnd.nextGaussian() * 25)), dir.resolve("scene-noisy.jpg"));
    write(perChannel(scene, v -> 128 + (v - 128) / 4), dir.resolve("scene-flat.jpg"));
    write(gray(scene), dir.resolve("scene-gray.jpg"));
  }

  /** A colourful, detailed, well-exposed square scene: gradient sky, shapes, lines, text. */
  public static BufferedImage scene(int size) {
    BufferedImage img = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = img.createGraphics();
    g.scale(size / 256.0, size / 256.0);
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

  /**
   * A camera-sized stand-in for a photo: the scene drawn at {@code width} x {@code height} with
   * sensor-like noise (sigma 3), so its JPEG holds about as many bytes per pixel as a camera's.
   */
  public static BufferedImage photo(int width, int height, long seed) {
    BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = img.createGraphics();
    g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
    g.drawImage(scene(1024), 0, 0, width, height, null);
    g.dispose();
    java.util.Random rnd = new java.util.Random(seed);
    int[] row = new int[width];
    for (int y = 0; y < height; y++) {
      img.getRGB(0, y, width, 1, row, 0, width);
      for (int x = 0; x < width; x++) {
        int n = (int) Math.round(rnd.nextGaussian() * 3);
        int p = row[x];
        row[x] = clamp((p >> 16 & 0xFF) + n) << 16 | clamp((p >> 8 & 0xFF) + n) << 8 | clamp((p & 0xFF) + n);
      }
      img.setRGB(0, y, width, 1, row, 0, width);
    }
    return img;
  }

  /** A (2r+1)-square box blur. */
  public static BufferedImage blur(BufferedImage img, int radius) {
    int size = 2 * radius + 1;
    float[] k = new float[size * size];
    Arrays.fill(k, 1f / k.length);
    BufferedImage out = new BufferedImage(img.getWidth(), img.getHeight(), BufferedImage.TYPE_INT_RGB);
    return new ConvolveOp(new Kernel(size, size, k), ConvolveOp.EDGE_NO_OP, null).filter(img, out);
  }

  /** Applies {@code f} to every channel of every pixel, clamped to 0..255. */
  public static BufferedImage perChannel(BufferedImage img, IntUnaryOperator f) {
    BufferedImage out = new BufferedImage(img.getWidth(), img.getHeight(), BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < img.getHeight(); y++) {
      for (int x = 0; x < img.getWidth(); x++) {
        int p = img.getRGB(x, y);
        int r = clamp(f.applyAsInt(p >> 16 & 0xFF));
        int gr = clamp(f.applyAsInt(p >> 8 & 0xFF));
        int b = clamp(f.applyAsInt(p & 0xFF));
        out.setRGB(x, y, r << 16 | gr << 8 | b);
      }
    }
    return out;
  }

  public static BufferedImage gray(BufferedImage img) {
    BufferedImage gray = new BufferedImage(img.getWidth(), img.getHeight(), BufferedImage.TYPE_BYTE_GRAY);
    gray.getGraphics().drawImage(img, 0, 0, null);
    BufferedImage rgb = new BufferedImage(img.getWidth(), img.getHeight(), BufferedImage.TYPE_INT_RGB);
    rgb.getGraphics().drawImage(gray, 0, 0, null);
    return rgb;
  }

  private static int clamp(int v) {
    return Math.max(0, Math.min(255, v));
  }

  /** @return {@code img} as a JPEG at ImageIO's usual quality, 0.75 */
  private static volatile byte[] warmup;

  /**
   * @return the photo a worker's warm-up scores (1024x768, {@link #photo} seed 1), drawn once per
   *     process: the front makes it once and hands it to every worker it starts, which saves each
   *     worker start the drawing (about 0.2 s)
   */
  public static byte[] warmupJpeg() {
    byte[] w = warmup;
    if (w == null) {
      synchronized (SampleImages.class) {
        w = warmup;
        if (w == null) {
          w = jpeg(photo(1024, 768, 1));
          warmup = w;
        }
      }
    }
    return w;
  }

  public static byte[] jpeg(BufferedImage img) {
    return jpeg(img, 0.75f);
  }

  /** @return {@code img} as a JPEG at {@code quality} (0..1) */
  public static byte[] jpeg(BufferedImage img, float quality) {
    ImageWriter w = ImageIO.getImageWritersByFormatName("jpeg").next();
    ImageWriteParam p = w.getDefaultWriteParam();
    p.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
    p.setCompressionQuality(quality);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (ImageOutputStream ios = ImageIO.createImageOutputStream(out)) {
      w.setOutput(ios);
      w.write(null, new IIOImage(img, null, null), p);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } finally {
      w.dispose();
    }
    return out.toByteArray();
  }

  private static void write(BufferedImage img, Path file) throws IOException {
    ImageIO.write(img, "jpeg", file.toFile());
  }
}
