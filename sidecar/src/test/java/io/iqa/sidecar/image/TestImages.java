package io.iqa.sidecar.image;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32;
import javax.imageio.ImageIO;

/** Builds test images and broken variants of them; nothing is a copied binary blob. */
public final class TestImages {

  private TestImages() {
  }

  /** 40x20: red left half, blue right half, a green pixel block in the top-left corner. */
  public static BufferedImage marked(int type) {
    BufferedImage img = new BufferedImage(40, 20, type);
    Graphics2D g = img.createGraphics();
    g.setColor(Color.RED);
    g.fillRect(0, 0, 20, 20);
    g.setColor(Color.BLUE);
    g.fillRect(20, 0, 20, 20);
    g.setColor(Color.GREEN);
    g.fillRect(0, 0, 4, 4);
    g.dispose();
    return img;
  }

  public static byte[] encode(BufferedImage img, String format) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    if (!ImageIO.write(img, format, out)) {
      throw new IOException("no writer for " + format);
    }
    return out.toByteArray();
  }

  /** WebP through Debian's cwebp (package webp), lossless so colours survive exactly. */
  public static byte[] webp(BufferedImage img, Path dir) throws IOException, InterruptedException {
    Path png = dir.resolve("in.png");
    Path webp = dir.resolve("out.webp");
    Files.write(png, encode(img, "png"));
    Process p;
    try {
      p = new ProcessBuilder("cwebp", "-quiet", "-lossless", png.toString(), "-o", webp.toString())
          .redirectErrorStream(true).start();
    } catch (IOException e) {
      throw new IOException("cwebp not found: apt-get install -y webp (.ci/run installs it)", e);
    }
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
      throw new IOException("cwebp failed: " + out);
    }
    return Files.readAllBytes(webp);
  }

  /**
   * A CMYK JPEG as Photoshop writes them: four components stored raw and inverted (255 = no ink),
   * announced by an Adobe APP14 marker with transform 0. Every pixel has the given ink amounts
   * (0..255). The JDK's writer stores a 4-band raster's components untransformed but adds no
   * Adobe marker, so the marker is put in here.
   */
  public static byte[] cmykJpeg(int w, int h, int c, int m, int y, int k) throws IOException {
    java.awt.image.WritableRaster raster = java.awt.image.Raster.createInterleavedRaster(
        java.awt.image.DataBuffer.TYPE_BYTE, w, h, 4, null);
    int[] stored = {255 - c, 255 - m, 255 - y, 255 - k};
    for (int j = 0; j < h; j++) {
      for (int i = 0; i < w; i++) {
        raster.setPixel(i, j, stored);
      }
    }
    javax.imageio.ImageWriter writer = ImageIO.getImageWritersByFormatName("jpeg").next();
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (javax.imageio.stream.ImageOutputStream ios = ImageIO.createImageOutputStream(out)) {
      writer.setOutput(ios);
      writer.write(null, new javax.imageio.IIOImage(raster, null, null), null);
    } finally {
      writer.dispose();
    }
    byte[] jpeg = out.toByteArray();
    byte[] adobe = {(byte) 0xFF, (byte) 0xEE, 0, 14, 'A', 'd', 'o', 'b', 'e', 0, 100, 0, 0, 0, 0, 0};
    byte[] withMarker = new byte[jpeg.length + adobe.length];
    System.arraycopy(jpeg, 0, withMarker, 0, 2);
    System.arraycopy(adobe, 0, withMarker, 2, adobe.length);
    System.arraycopy(jpeg, 2, withMarker, 2 + adobe.length, jpeg.length - 2);
    return withMarker;
  }

  /**
   * The malformed-image corpus: name -> {bytes, expected ImageDecodeException.Kind}. Used by the
   * decoder's tests and, over HTTP, by the sidecar's.
   */
  public static java.util.Map<String, Object[]> malformedCorpus() throws IOException {
    byte[] jpeg = encode(marked(BufferedImage.TYPE_INT_RGB), "jpeg");
    byte[] png = encode(marked(BufferedImage.TYPE_INT_RGB), "png");
    java.util.Map<String, Object[]> corpus = new java.util.LinkedHashMap<>();
    corpus.put("zero bytes", new Object[] {new byte[0], ImageDecodeException.Kind.EMPTY});
    corpus.put("truncated JPEG", new Object[] {Arrays.copyOf(jpeg, jpeg.length / 2), ImageDecodeException.Kind.CORRUPT});
    corpus.put("JPEG cut after its header", new Object[] {Arrays.copyOf(jpeg, 200), ImageDecodeException.Kind.CORRUPT});
    corpus.put("truncated PNG", new Object[] {Arrays.copyOf(png, png.length / 2), ImageDecodeException.Kind.CORRUPT});
    byte[] garbage = Arrays.copyOf(png, 15);
    System.arraycopy("garbage".getBytes(StandardCharsets.US_ASCII), 0, garbage, 8, 7);
    corpus.put("PNG magic, garbage after", new Object[] {garbage, ImageDecodeException.Kind.CORRUPT});
    byte[] wrongMagic = png.clone();
    wrongMagic[3] = 'X';
    corpus.put("wrong magic", new Object[] {wrongMagic, ImageDecodeException.Kind.UNSUPPORTED});
    corpus.put("text file", new Object[] {"hello, this is not an image\n".getBytes(StandardCharsets.UTF_8),
        ImageDecodeException.Kind.UNSUPPORTED});
    corpus.put("HTML", new Object[] {"<!doctype html><html><body>no</body></html>".getBytes(StandardCharsets.UTF_8),
        ImageDecodeException.Kind.UNSUPPORTED});
    corpus.put("zeros (WBMP look-alike)", new Object[] {new byte[64], ImageDecodeException.Kind.UNSUPPORTED});
    corpus.put("PNG declaring 100000x100000", new Object[] {pngDeclaring(100_000, 100_000),
        ImageDecodeException.Kind.TOO_MANY_PIXELS});
    corpus.put("JPEG declaring 65000x65000", new Object[] {jpegDeclaring(jpeg, 65_000, 65_000),
        ImageDecodeException.Kind.TOO_MANY_PIXELS});
    return corpus;
  }

  /** Inserts an EXIF APP1 segment with the given orientation after the JPEG's APP0 (or SOI). */
  public static byte[] withExifOrientation(byte[] jpeg, int orientation) {
    ByteBuffer tiff = ByteBuffer.allocate(26);
    tiff.put(new byte[] {'M', 'M', 0, 42}).putInt(8);            // big-endian TIFF header, IFD at 8
    tiff.putShort((short) 1);                                      // one entry
    tiff.putShort((short) 0x0112).putShort((short) 3).putInt(1);   // Orientation, SHORT, count 1
    tiff.putShort((short) orientation).putShort((short) 0);        // value, padding
    tiff.putInt(0);                                                // no next IFD
    byte[] exif = "Exif\0\0".getBytes(StandardCharsets.ISO_8859_1);
    int length = 2 + exif.length + tiff.capacity();
    ByteBuffer app1 = ByteBuffer.allocate(2 + length);
    app1.put((byte) 0xFF).put((byte) 0xE1).putShort((short) length).put(exif).put(tiff.array());
    int at = 2;
    if ((jpeg[2] & 0xFF) == 0xFF && (jpeg[3] & 0xFF) == 0xE0) {
      at = 4 + (((jpeg[4] & 0xFF) << 8) | (jpeg[5] & 0xFF));
    }
    byte[] out = new byte[jpeg.length + app1.capacity()];
    System.arraycopy(jpeg, 0, out, 0, at);
    System.arraycopy(app1.array(), 0, out, at, app1.capacity());
    System.arraycopy(jpeg, at, out, at + app1.capacity(), jpeg.length - at);
    return out;
  }

  /** A PNG whose header declares width x height but that carries almost no data. */
  public static byte[] pngDeclaring(int width, int height) {
    ByteBuffer ihdr = ByteBuffer.allocate(13).putInt(width).putInt(height)
        .put((byte) 8).put((byte) 2).put((byte) 0).put((byte) 0).put((byte) 0);
    ByteBuffer png = ByteBuffer.allocate(8 + chunkSize(13) + chunkSize(0));
    png.put(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'});
    chunk(png, "IHDR", ihdr.array());
    chunk(png, "IEND", new byte[0]);
    return png.array();
  }

  /** A real JPEG whose SOF header is patched to declare width x height. */
  public static byte[] jpegDeclaring(byte[] jpeg, int width, int height) {
    byte[] out = Arrays.copyOf(jpeg, jpeg.length);
    for (int i = 0; i + 8 < out.length; i++) {
      if ((out[i] & 0xFF) == 0xFF && ((out[i + 1] & 0xFF) == 0xC0 || (out[i + 1] & 0xFF) == 0xC2)) {
        out[i + 5] = (byte) (height >> 8);
        out[i + 6] = (byte) height;
        out[i + 7] = (byte) (width >> 8);
        out[i + 8] = (byte) width;
        return out;
      }
    }
    throw new IllegalStateException("no SOF marker");
  }

  private static int chunkSize(int dataLength) {
    return 12 + dataLength;
  }

  private static void chunk(ByteBuffer png, String type, byte[] data) {
    byte[] t = type.getBytes(StandardCharsets.US_ASCII);
    CRC32 crc = new CRC32();
    crc.update(t);
    crc.update(data);
    png.putInt(data.length).put(t).put(data).putInt((int) crc.getValue());
  }
}
