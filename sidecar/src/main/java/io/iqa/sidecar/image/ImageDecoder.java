package io.iqa.sidecar.image;

import com.twelvemonkeys.contrib.exif.EXIFUtilities;
import com.twelvemonkeys.contrib.exif.Orientation;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.AffineTransform;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;
import javax.imageio.ImageReadParam;
import javax.imageio.ImageReader;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.stream.ImageInputStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns encoded image bytes (JPEG, PNG, BMP, GIF's first frame, WebP) into upright RGB. The
 * byte size is checked first and the pixel count is read from the header and checked before any
 * pixel is decoded, so a decompression bomb is refused, not decoded. JPEGs, what photos are, go
 * through OpenCV's libjpeg-turbo at the smallest DCT scale that still gives the models what they
 * {@link Need} (a 12 MP photo for 256-pixel inputs decodes at 1/8, in a few milliseconds), with
 * the EXIF orientation applied; a JPEG that does not end (no end-of-image marker after its first
 * scan) is refused as truncated. Other formats, and any JPEG OpenCV cannot read, go through
 * ImageIO (TwelveMonkeys), which also says precisely what is wrong with a broken file. Every
 * failure is an {@link ImageDecodeException}; nothing else escapes. Thread-safe.
 */
public final class ImageDecoder {

  private static final Logger LOG = LoggerFactory.getLogger(ImageDecoder.class);

  /** Default cap on encoded bytes: 32 MiB, the sidecar's default request body limit. */
  public static final long DEFAULT_MAX_BYTES = 32L * 1024 * 1024;
  /** Default cap on decoded pixels: 50 megapixels (about 200 MB as RGB). */
  public static final long DEFAULT_MAX_PIXELS = 50_000_000L;

  static {
    // Registers the TwelveMonkeys readers found on the classpath (they also self-register via SPI).
    ImageIO.scanForPlugins();
    ImageIO.setUseCache(false);
  }

  private static final java.util.Set<String> SUPPORTED = java.util.Set.of("jpeg", "png", "bmp", "gif", "webp");

  private final long maxBytes;
  private final long maxPixels;

  public ImageDecoder() {
    this(DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS);
  }

  public ImageDecoder(long maxBytes, long maxPixels) {
    this.maxBytes = maxBytes;
    this.maxPixels = maxPixels;
  }

  /** Full resolution. @throws ImageDecodeException when the bytes are empty, too large, not an image, or corrupt */
  public DecodedImage decode(byte[] bytes) throws ImageDecodeException {
    return decode(bytes, Need.FULL);
  }

  /**
   * At least what {@code need} says (JPEGs at a reduced scale when that suffices; other formats at
   * full size). @throws ImageDecodeException when the bytes are empty, too large, not an image, or corrupt
   */
  public DecodedImage decode(byte[] bytes, Need need) throws ImageDecodeException {
    if (bytes == null || bytes.length == 0) {
      throw new ImageDecodeException(ImageDecodeException.Kind.EMPTY, "no image bytes (empty body or file)");
    }
    if (bytes.length > maxBytes) {
      throw new ImageDecodeException(ImageDecodeException.Kind.TOO_LARGE,
          "image is " + bytes.length + " bytes; the limit is " + maxBytes);
    }
    try (ImageInputStream in = ImageIO.createImageInputStream(new ByteArrayInputStream(bytes))) {
      ImageReader reader = supportedReader(ImageIO.getImageReaders(in));
      if (reader == null) {
        throw new ImageDecodeException(ImageDecodeException.Kind.UNSUPPORTED,
            "not a JPEG, PNG, BMP, GIF or WebP image (first bytes: " + head(bytes) + ")");
      }
      try {
        return read(reader, in, bytes, need);
      } finally {
        reader.dispose();
      }
    } catch (IOException e) {
      throw new ImageDecodeException(ImageDecodeException.Kind.CORRUPT, "cannot read image: " + e.getMessage(), e);
    }
  }

  private DecodedImage read(ImageReader reader, ImageInputStream in, byte[] bytes, Need need)
      throws ImageDecodeException {
    String format = formatName(reader);
    List<String> warnings = new ArrayList<>();
    reader.addIIOReadWarningListener((source, warning) -> warnings.add(warning));
    BufferedImage image;
    int orientation;
    try {
      reader.setInput(in, true, false);
      long width = reader.getWidth(0);
      long height = reader.getHeight(0);
      if (width <= 0 || height <= 0) {
        throw new ImageDecodeException(ImageDecodeException.Kind.CORRUPT,
            format + " header declares " + width + "x" + height + " pixels");
      }
      if (width * height > maxPixels) {
        throw new ImageDecodeException(ImageDecodeException.Kind.TOO_MANY_PIXELS,
            format + " declares " + width + "x" + height + " = " + width * height + " pixels; the limit is "
                + maxPixels + " (not decoded)");
      }
      orientation = orientation(reader);
      if (format.equals("jpeg")) {
        DecodedImage fast = Jpeg.decode(bytes, format, orientation, (int) width, (int) height, need);
        if (fast != null) {
          return fast;
        }
      }
      ImageReadParam param = reader.getDefaultReadParam();
      image = reader.read(0, param);
    } catch (ImageDecodeException e) {
      throw e;
    } catch (IOException | RuntimeException e) {
      // The JDK's readers throw IIOException, EOFException, but also IndexOutOfBounds and
      // IllegalArgument on crafted data: all of them mean "this image is broken".
      throw new ImageDecodeException(ImageDecodeException.Kind.CORRUPT,
          format + " data is truncated or corrupt: " + e.getMessage(), e);
    }
    for (String w : warnings) {
      String lower = w.toLowerCase(Locale.ROOT);
      if (lower.contains("premature end") || lower.contains("truncat")) {
        throw new ImageDecodeException(ImageDecodeException.Kind.CORRUPT, format + " data is truncated: " + w);
      }
      LOG.debug("{} reader warning: {}", format, w);
    }
    if (image == null) {
      throw new ImageDecodeException(ImageDecodeException.Kind.CORRUPT, format + " reader returned no image");
    }
    BufferedImage upright = toUprightRgb(image, orientation);
    return new DecodedImage(DecodedImage.toMat(upright), format, orientation, upright.getWidth(), upright.getHeight(), 1);
  }

  private static int orientation(ImageReader reader) {
    try {
      IIOMetadata metadata = reader.getImageMetadata(0);
      Orientation o = metadata == null ? null : EXIFUtilities.findImageOrientation(metadata);
      return o == null ? 1 : o.value();
    } catch (IOException | RuntimeException e) {
      LOG.debug("cannot read orientation metadata: {}", e.getMessage());
      return 1;
    }
  }

  /**
   * Draws the image into fresh 8-bit RGB with the EXIF correction applied, flattening alpha onto
   * white; grayscale, palette, 16-bit and CMYK sources all come out as plain RGB.
   */
  static BufferedImage toUprightRgb(BufferedImage src, int orientation) {
    int w = src.getWidth();
    int h = src.getHeight();
    boolean swap = orientation >= 5 && orientation <= 8;
    BufferedImage out = new BufferedImage(swap ? h : w, swap ? w : h, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = out.createGraphics();
    try {
      g.setColor(Color.WHITE);
      g.fillRect(0, 0, out.getWidth(), out.getHeight());
      g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_NEAREST_NEIGHBOR);
      g.drawImage(src, exifTransform(orientation, w, h), null);
    } finally {
      g.dispose();
    }
    return out;
  }

  /** The transform that makes an image stored with EXIF {@code orientation} upright. */
  static AffineTransform exifTransform(int orientation, int w, int h) {
    return switch (orientation) {
      case 2 -> new AffineTransform(-1, 0, 0, 1, w, 0);   // mirror horizontally
      case 3 -> new AffineTransform(-1, 0, 0, -1, w, h);  // rotate 180
      case 4 -> new AffineTransform(1, 0, 0, -1, 0, h);   // mirror vertically
      case 5 -> new AffineTransform(0, 1, 1, 0, 0, 0);    // transpose
      case 6 -> new AffineTransform(0, 1, -1, 0, h, 0);   // rotate 90 clockwise
      case 7 -> new AffineTransform(0, -1, -1, 0, h, w);  // transverse
      case 8 -> new AffineTransform(0, -1, 1, 0, 0, w);   // rotate 90 counter-clockwise
      default -> new AffineTransform();
    };
  }

  /**
   * The first reader for one of the supported formats. Others are skipped on purpose: the JDK's
   * WBMP reader, for one, accepts almost any bytes that start with two zeros.
   */
  private static ImageReader supportedReader(Iterator<ImageReader> readers) {
    while (readers.hasNext()) {
      ImageReader reader = readers.next();
      if (SUPPORTED.contains(formatName(reader))) {
        return reader;
      }
      reader.dispose();
    }
    return null;
  }

  private static String formatName(ImageReader reader) {
    try {
      return reader.getFormatName().toLowerCase(Locale.ROOT);
    } catch (IOException e) {
      return reader.getOriginatingProvider() == null ? "image"
          : reader.getOriginatingProvider().getFormatNames()[0].toLowerCase(Locale.ROOT);
    }
  }

  private static String head(byte[] bytes) {
    int n = Math.min(8, bytes.length);
    return HexFormat.ofDelimiter(" ").formatHex(bytes, 0, n) + (bytes.length > n ? " ..." : "");
  }
}
