package io.iqa.sidecar.image;

import static org.bytedeco.opencv.global.opencv_imgcodecs.IMREAD_COLOR;
import static org.bytedeco.opencv.global.opencv_imgcodecs.IMREAD_REDUCED_COLOR_2;
import static org.bytedeco.opencv.global.opencv_imgcodecs.IMREAD_REDUCED_COLOR_4;
import static org.bytedeco.opencv.global.opencv_imgcodecs.IMREAD_REDUCED_COLOR_8;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imdecode;

import org.bytedeco.opencv.opencv_core.Mat;

/** JPEG through OpenCV's libjpeg-turbo, at a reduced DCT scale when the models need less than full size. */
final class Jpeg {

  private Jpeg() {
  }

  /**
   * @param width the header's width (before the EXIF orientation is applied)
   * @return the upright image, or null when OpenCV could not read it (ImageIO then says why)
   * @throws ImageDecodeException when the data ends before its end-of-image marker
   */
  static DecodedImage decode(byte[] bytes, String format, int orientation, int width, int height, Need need)
      throws ImageDecodeException {
    if (!complete(bytes)) {
      throw new ImageDecodeException(ImageDecodeException.Kind.CORRUPT,
          "jpeg data is truncated: no end-of-image marker after the image data");
    }
    int r = need.reduction(width, height);
    int flag = switch (r) {
      case 8 -> IMREAD_REDUCED_COLOR_8;
      case 4 -> IMREAD_REDUCED_COLOR_4;
      case 2 -> IMREAD_REDUCED_COLOR_2;
      default -> IMREAD_COLOR; // with the EXIF orientation applied, as the reduced flags do
    };
    Mat decoded;
    try (Mat encoded = new Mat(bytes)) {
      decoded = imdecode(encoded, flag);
    }
    if (decoded == null || decoded.empty()) {
      return null;
    }
    boolean swap = orientation >= 5 && orientation <= 8;
    return new DecodedImage(decoded, format, orientation, swap ? height : width, swap ? width : height, r);
  }

  /**
   * @return whether an end-of-image marker (FF D9) follows the first start-of-scan (FF DA): markers
   *     before it are skipped by their lengths, so a thumbnail's own end marker in the EXIF block
   *     does not count, and inside scan data an FF is always followed by 00 or a restart marker.
   */
  static boolean complete(byte[] b) {
    int i = 2; // after SOI
    while (i + 4 <= b.length) {
      if ((b[i] & 0xFF) != 0xFF) {
        return false;
      }
      int marker = b[i + 1] & 0xFF;
      if (marker == 0xFF) {
        i++; // fill byte
        continue;
      }
      int length = (b[i + 2] & 0xFF) << 8 | b[i + 3] & 0xFF;
      if (marker == 0xDA) {
        for (int j = i + 2 + length; j + 1 < b.length; j++) {
          if ((b[j] & 0xFF) == 0xFF && (b[j + 1] & 0xFF) == 0xD9) {
            return true;
          }
        }
        return false;
      }
      i += 2 + length;
    }
    return false;
  }
}
