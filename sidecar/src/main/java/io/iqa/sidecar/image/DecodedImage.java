package io.iqa.sidecar.image;

import java.awt.image.BufferedImage;

/**
 * A decoded image, upright (EXIF orientation applied) and in plain 8-bit RGB
 * ({@link BufferedImage#TYPE_INT_RGB}): grayscale expanded, CMYK converted, alpha flattened onto white.
 *
 * @param format the reader's format name, e.g. {@code jpeg}, {@code png}, {@code webp}
 * @param exifOrientation the EXIF orientation found (1 when none)
 */
public record DecodedImage(BufferedImage rgb, String format, int exifOrientation) {

  public int width() {
    return rgb.getWidth();
  }

  public int height() {
    return rgb.getHeight();
  }
}
