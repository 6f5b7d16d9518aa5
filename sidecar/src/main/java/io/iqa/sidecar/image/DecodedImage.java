package io.iqa.sidecar.image;

import static org.bytedeco.opencv.global.opencv_core.CV_8UC3;
import static org.bytedeco.opencv.global.opencv_imgproc.COLOR_BGR2GRAY;
import static org.bytedeco.opencv.global.opencv_imgproc.COLOR_BGR2RGB;
import static org.bytedeco.opencv.global.opencv_imgproc.INTER_AREA;
import static org.bytedeco.opencv.global.opencv_imgproc.INTER_LINEAR;
import static org.bytedeco.opencv.global.opencv_imgproc.cvtColor;
import static org.bytedeco.opencv.global.opencv_imgproc.resize;

import java.awt.image.BufferedImage;
import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_core.Rect;
import org.bytedeco.opencv.opencv_core.Size;

/**
 * A decoded image, upright (EXIF orientation applied) and in plain 8-bit colour (an OpenCV BGR
 * {@link Mat}): grayscale expanded, CMYK converted, alpha flattened onto white. A JPEG may have
 * been decoded at a reduced DCT scale ({@link #reduction()}); {@link #fullWidth()} and
 * {@link #fullHeight()} are the image's own size. Holds native memory until {@link #close()}.
 * Reading (sizes, {@link #rgb}) is safe from several threads.
 *
 * @param format the format name, e.g. {@code jpeg}, {@code png}, {@code webp}
 * @param exifOrientation the EXIF orientation found (1 when none)
 */
public record DecodedImage(Mat bgr, String format, int exifOrientation, int fullWidth, int fullHeight,
    int reduction) implements AutoCloseable {

  /** @return the decoded width: {@link #fullWidth()} over the reduction, rounded up */
  public int width() {
    return bgr.cols();
  }

  public int height() {
    return bgr.rows();
  }

  /**
   * The image at {@code w} x {@code h} as interleaved RGB bytes (what models turn into tensors):
   * area-averaged when shrinking, bilinear when growing.
   */
  public byte[] rgb(int w, int h, Fit fit) {
    try (Mat scaled = new Mat(); Mat rgb = new Mat()) {
      if (fit == Fit.COVER) {
        double s = Math.max(w / (double) width(), h / (double) height());
        int sw = Math.max(w, (int) Math.round(width() * s));
        int sh = Math.max(h, (int) Math.round(height() * s));
        resize(bgr, scaled, new Size(sw, sh), 0, 0, interpolation(sw, sh));
        try (Mat crop = new Mat(scaled, new Rect((sw - w) / 2, (sh - h) / 2, w, h))) {
          cvtColor(crop, rgb, COLOR_BGR2RGB);
        }
      } else if (w == width() && h == height()) {
        cvtColor(bgr, rgb, COLOR_BGR2RGB);
      } else {
        resize(bgr, scaled, new Size(w, h), 0, 0, interpolation(w, h));
        cvtColor(scaled, rgb, COLOR_BGR2RGB);
      }
      byte[] out = new byte[w * h * 3];
      rgb.data().get(out);
      return out;
    }
  }

  /**
   * The image at {@code w} x {@code h} as 8-bit grey (OpenCV's BGR-to-grey weights), the same
   * resize as {@link #rgb}: for a model that reads luma only, with no RGB copy on the Java heap.
   * The caller closes the {@link Mat}.
   */
  public Mat gray(int w, int h) {
    Mat gray = new Mat();
    if (w == width() && h == height()) {
      cvtColor(bgr, gray, COLOR_BGR2GRAY);
      return gray;
    }
    try (Mat scaled = new Mat()) {
      resize(bgr, scaled, new Size(w, h), 0, 0, interpolation(w, h));
      cvtColor(scaled, gray, COLOR_BGR2GRAY);
      return gray;
    }
  }

  private int interpolation(int w, int h) {
    return w <= width() && h <= height() ? INTER_AREA : INTER_LINEAR;
  }

  /** @return the pixel at ({@code x}, {@code y}) as 0xRRGGBB */
  public int rgbAt(int x, int y) {
    byte[] px = new byte[3];
    bgr.ptr(y, x).get(px);
    return (px[2] & 0xFF) << 16 | (px[1] & 0xFF) << 8 | px[0] & 0xFF;
  }

  /** A copy as {@link BufferedImage#TYPE_INT_RGB} (for tools and tests; models use {@link #rgb}). */
  public BufferedImage toBufferedImage() {
    byte[] px = rgb(width(), height(), Fit.STRETCH);
    BufferedImage out = new BufferedImage(width(), height(), BufferedImage.TYPE_INT_RGB);
    int[] argb = new int[width() * height()];
    for (int i = 0, p = 0; i < argb.length; i++, p += 3) {
      argb[i] = (px[p] & 0xFF) << 16 | (px[p + 1] & 0xFF) << 8 | px[p + 2] & 0xFF;
    }
    out.setRGB(0, 0, width(), height(), argb, 0, width());
    return out;
  }

  /** An image already in memory (tools, tests): taken as upright, full size. */
  public static DecodedImage of(BufferedImage image) {
    BufferedImage rgb = image.getType() == BufferedImage.TYPE_INT_RGB ? image : ImageDecoder.toUprightRgb(image, 1);
    return new DecodedImage(toMat(rgb), "memory", 1, rgb.getWidth(), rgb.getHeight(), 1);
  }

  /** An upright 8-bit RGB image as a BGR {@link Mat}. */
  static Mat toMat(BufferedImage rgb) {
    int w = rgb.getWidth();
    int h = rgb.getHeight();
    int[] argb = rgb.getRGB(0, 0, w, h, null, 0, w);
    byte[] bgr = new byte[w * h * 3];
    for (int i = 0, p = 0; i < argb.length; i++, p += 3) {
      bgr[p] = (byte) argb[i];
      bgr[p + 1] = (byte) (argb[i] >> 8);
      bgr[p + 2] = (byte) (argb[i] >> 16);
    }
    Mat m = new Mat(h, w, CV_8UC3);
    m.data().put(bgr);
    return m;
  }

  @Override
  public void close() {
    bgr.close();
  }
}
