package io.iqa.sidecar.image;

/** How an image is brought to a model's input size. */
public enum Fit {
  /** Both sides scaled to the input size; the aspect ratio is not kept (NIMA, the technical measures). */
  STRETCH,
  /** Scaled so the image covers the input, then the overflow cut off evenly on both sides. */
  COVER
}
