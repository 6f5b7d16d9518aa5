package io.iqa.sidecar.model;

import io.iqa.sidecar.image.DecodedImage;
import io.iqa.sidecar.image.Fit;
import io.iqa.sidecar.image.ImageDecodeException;
import io.iqa.sidecar.image.ImageDecoder;
import io.iqa.sidecar.image.Need;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One image as models need it: the original bytes (MUSIQ takes those), decoded once at the scale
 * the request's models {@link Need}, and resized once per input size however many models share
 * that size. A decode failure is remembered and thrown to every asker. Close it when every model
 * is done with it (it holds the decoded pixels in native memory). Thread-safe.
 */
public final class ImageInput implements AutoCloseable {

  private final byte[] encoded;
  private final ImageDecoder decoder;
  private final Need need;
  private final Map<String, byte[]> resized = new ConcurrentHashMap<>();
  private DecodedImage decoded;
  private ImageDecodeException failure;
  private boolean closed;

  private ImageInput(byte[] encoded, ImageDecoder decoder, Need need, DecodedImage decoded) {
    this.encoded = encoded;
    this.decoder = decoder;
    this.need = need;
    this.decoded = decoded;
  }

  /** An image decoded already; this input owns it from now on. */
  public static ImageInput of(DecodedImage decoded, byte[] encoded) {
    return new ImageInput(encoded, null, Need.FULL, decoded);
  }

  /** An image in memory (tools, tests), without encoded bytes. */
  public static ImageInput of(java.awt.image.BufferedImage image) {
    return of(DecodedImage.of(image), new byte[0]);
  }

  /** An image decoded on first use, at what {@code need} asks. */
  public static ImageInput lazy(byte[] encoded, ImageDecoder decoder, Need need) {
    return new ImageInput(encoded, decoder, need, null);
  }

  public byte[] encoded() {
    return encoded;
  }

  /** @return the decoded image (decoding it now if nobody has). @throws ImageDecodeException every call, once it failed */
  public synchronized DecodedImage decoded() throws ImageDecodeException {
    if (closed) {
      throw new IllegalStateException("image input used after close");
    }
    if (decoded == null && failure == null) {
      try {
        decoded = decoder.decode(encoded, need);
      } catch (ImageDecodeException e) {
        failure = e;
      }
    }
    if (failure != null) {
      throw failure;
    }
    return decoded;
  }

  /**
   * The image at a model's input size as interleaved RGB bytes, computed once per size and fit.
   * Models call it for images already known to decode.
   */
  public byte[] rgb(int width, int height, Fit fit) {
    return resized.computeIfAbsent(width + "x" + height + fit, k -> {
      try {
        return decoded().rgb(width, height, fit);
      } catch (ImageDecodeException e) {
        throw new IllegalStateException("image was not decodable: " + e.getMessage(), e);
      }
    });
  }

  @Override
  public synchronized void close() {
    closed = true;
    if (decoded != null) {
      decoded.close();
      decoded = null;
    }
    resized.clear();
  }
}
