package io.iqa.sidecar.model;

/**
 * One model's score for one image.
 *
 * @param std the spread of the predicted score distribution (NIMA-style models), else null
 */
public record Score(double value, Double std) {

  /**
   * Mean and standard deviation of scores 1..N under a row of probabilities (NIMA's output), or
   * of logits when {@code softmax} is true. Probabilities are renormalised to sum to 1.
   */
  public static Score ofDistribution(float[] row, boolean softmax) {
    double[] p = new double[row.length];
    double max = Double.NEGATIVE_INFINITY;
    for (float v : row) {
      max = Math.max(max, v);
    }
    double sum = 0;
    for (int i = 0; i < row.length; i++) {
      p[i] = softmax ? Math.exp(row[i] - max) : row[i];
      sum += p[i];
    }
    double mean = 0;
    for (int i = 0; i < p.length; i++) {
      p[i] /= sum;
      mean += (i + 1) * p[i];
    }
    double var = 0;
    for (int i = 0; i < p.length; i++) {
      var += p[i] * (i + 1 - mean) * (i + 1 - mean);
    }
    return new Score(mean, Math.sqrt(var));
  }
}
