package io.iqa.sidecar.image;

/**
 * How many pixels a model needs of an image: at least {@code minShort} on the decoded image's
 * short side and {@code minLong} on its long side. JPEGs are decoded at the smallest DCT scale
 * (1/8, 1/4, 1/2 or full) that still gives every model of a request what it needs.
 */
public record Need(int minShort, int minLong) {

  /** A model that reads the encoded bytes itself (MUSIQ): no decoding for it. */
  public static final Need NONE = new Need(0, 0);
  /** Full resolution. */
  public static final Need FULL = new Need(Integer.MAX_VALUE, Integer.MAX_VALUE);

  /** What a model with a {@code width} x {@code height} input needs. */
  public static Need ofInput(int width, int height) {
    return new Need(Math.min(width, height), Math.max(width, height));
  }

  /** @return what both needs together need */
  public Need and(Need other) {
    return new Need(Math.max(minShort, other.minShort), Math.max(minLong, other.minLong));
  }

  public boolean none() {
    return minShort == 0 && minLong == 0;
  }

  /** @return the largest JPEG DCT reduction (8, 4, 2, or 1) of a {@code w} x {@code h} image that meets this need */
  public int reduction(int w, int h) {
    int small = Math.min(w, h);
    int large = Math.max(w, h);
    for (int r = 8; r > 1; r /= 2) {
      // libjpeg's scaled output is ceil(size / r)
      if ((small + r - 1) / r >= minShort && (large + r - 1) / r >= minLong) {
        return r;
      }
    }
    return 1;
  }
}
