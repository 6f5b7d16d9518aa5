package io.iqa.sidecar.model;

import java.awt.image.BufferedImage;

/** One image as models need it: decoded upright RGB, and the original bytes (MUSIQ takes those). */
public record ImageInput(BufferedImage rgb, byte[] encoded) {
}
