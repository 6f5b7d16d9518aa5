package io.iqa.sidecar.model;

/**
 * One model's score for one image.
 *
 * @param std the spread of the predicted score distribution (NIMA-style models), else null
 */
public record Score(double value, Double std) {
}
