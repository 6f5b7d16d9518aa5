package io.iqa.sidecar.model;

import io.iqa.sidecar.image.ImageDecodeException;
import io.iqa.sidecar.image.ImageDecoder;
import java.awt.image.BufferedImage;

/**
 * One image as models need it: the original bytes (MUSIQ takes those) and the upright RGB,
 * decoded at most once, on first use, by whichever thread asks first; the other models of the
 * same request reuse it. A decode failure is remembered and thrown to every asker.
 */
public final class ImageInput {

  private final byte[] encoded;
  private final ImageDecoder decoder;
  private BufferedImage rgb;
  private ImageDecodeException failure;

  private ImageInput(byte[] encoded, ImageDecoder decoder, BufferedImage rgb) {
    this.encoded = encoded;
    this.decoder = decoder;
    this.rgb = rgb;
  }

  /** An image decoded already. */
  public static ImageInput decoded(BufferedImage rgb, byte[] encoded) {
    return new ImageInput(encoded, null, rgb);
  }

  /** An image decoded on first {@link #rgb()}. */
  public static ImageInput lazy(byte[] encoded, ImageDecoder decoder) {
    return new ImageInput(encoded, decoder, null);
  }

  public byte[] encoded() {
    return encoded;
  }

  /** @throws ImageDecodeException when the bytes are not a decodable image (every call) */
  public synchronized BufferedImage rgb() throws ImageDecodeException {
    if (rgb == null && failure == null) {
      try {
        rgb = decoder.decode(encoded).rgb();
      } catch (ImageDecodeException e) {
        failure = e;
      }
    }
    if (failure != null) {
      throw failure;
    }
    return rgb;
  }

  /** @return the RGB of an image that is known to decode (models call this after the batch checked it) */
  public BufferedImage decodedRgb() {
    try {
      return rgb();
    } catch (ImageDecodeException e) {
      throw new IllegalStateException("image was not decodable: " + e.getMessage(), e);
    }
  }
}
