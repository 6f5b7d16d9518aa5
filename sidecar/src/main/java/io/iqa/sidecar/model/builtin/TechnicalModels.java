package io.iqa.sidecar.model.builtin;

import io.iqa.sidecar.model.onnx.OnnxModelSpec;
import io.iqa.sidecar.model.onnx.OnnxModelWriter.Attribute;
import io.iqa.sidecar.model.onnx.OnnxModelWriter;
import io.iqa.sidecar.model.onnx.OutputMode;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The default model set: no-reference technical-quality measures that need no downloaded
 * weights. Each is a small ONNX graph this class writes and ONNX Runtime runs, exactly like a
 * downloaded model. Input: RGB resized to 256x256, values 0..1, NCHW. Every score is 0..100,
 * higher is better:
 * <ul>
 *   <li>{@code tech_sharpness}: variance of the Laplacian of luma, v / (v + 0.001);</li>
 *   <li>{@code tech_exposure}: 1 - 2 |mean luma - 0.5|;</li>
 *   <li>{@code tech_contrast}: standard deviation s of luma, s / (s + 0.1);</li>
 *   <li>{@code tech_colorfulness}: Hasler and Suesstrunk's C = s_rgyb + 0.3 m_rgyb, C / (C + 0.15);</li>
 *   <li>{@code tech_noise}: Immerkaer's noise estimate n (3x3 kernel on luma), 0.01 / (n + 0.01).</li>
 * </ul>
 */
public final class TechnicalModels {

  public static final int SIZE = 256;
  /** Every measure is 0..100, higher is better. */
  public static final io.iqa.protocol.ScoreScale SCALE = io.iqa.protocol.ScoreScale.PERCENT;
  static final int OPSET = 13;

  /** Model name -> graph body; each body reads "image" and writes "score" [N]. */
  private static final Map<String, Consumer<OnnxModelWriter>> GRAPHS = Map.of(
      "tech_sharpness", TechnicalModels::sharpness,
      "tech_exposure", TechnicalModels::exposure,
      "tech_contrast", TechnicalModels::contrast,
      "tech_colorfulness", TechnicalModels::colorfulness,
      "tech_noise", TechnicalModels::noise);

  /** The names, in the order they are reported. */
  public static final List<String> NAMES = List.of("tech_sharpness", "tech_exposure", "tech_contrast",
      "tech_colorfulness", "tech_noise");

  private TechnicalModels() {
  }

  /** @return the model {@code name}, made in memory (the same bytes every time) */
  public static OnnxModelSpec spec(String name) {
    Consumer<OnnxModelWriter> body = GRAPHS.get(name);
    if (body == null) {
      throw new IllegalArgumentException("no built-in model '" + name + "'; built-in: " + NAMES);
    }
    OnnxModelWriter w = new OnnxModelWriter(name)
        .input("image", OnnxModelWriter.FLOAT, -1, 3, SIZE, SIZE)
        .output("score", OnnxModelWriter.FLOAT, -1);
    body.accept(w);
    return new OnnxModelSpec(name, null, "image", false, SIZE, SIZE, false, new float[3], new float[] {1, 1, 1},
        OutputMode.IDENTITY, w.toBytes(OPSET));
  }

  // ---- graphs ----

  private static final Attribute[] MEAN_ALL = {Attribute.ints("axes", 1, 2, 3), Attribute.integer("keepdims", 0)};

  private static void luma(OnnxModelWriter w) {
    w.initializer("k_luma", new long[] {1, 3, 1, 1}, 0.299f, 0.587f, 0.114f)
        .node("Conv", List.of("image", "k_luma"), List.of("luma"));
  }

  /** mean and variance over all but the batch axis: writes {p}_mean, {p}_var (clamped at 0). */
  private static void moments(OnnxModelWriter w, String x, String p) {
    w.node("ReduceMean", List.of(x), List.of(p + "_mean"), MEAN_ALL)
        .node("Mul", List.of(x, x), List.of(p + "_sq"))
        .node("ReduceMean", List.of(p + "_sq"), List.of(p + "_meansq"), MEAN_ALL)
        .node("Mul", List.of(p + "_mean", p + "_mean"), List.of(p + "_mean2"))
        .node("Sub", List.of(p + "_meansq", p + "_mean2"), List.of(p + "_rawvar"))
        .node("Relu", List.of(p + "_rawvar"), List.of(p + "_var"));
  }

  private static void constant(OnnxModelWriter w, String name, float value) {
    w.initializer(name, new long[0], value);
  }

  /** score = 100 * x / (x + c) for x >= 0: 0 at 0, 50 at c, towards 100. */
  private static void saturate(OnnxModelWriter w, String x, float c) {
    constant(w, "c_sat", c);
    constant(w, "c_100", 100f);
    w.node("Add", List.of(x, "c_sat"), List.of("sat_den"))
        .node("Div", List.of(x, "sat_den"), List.of("sat_ratio"))
        .node("Mul", List.of("sat_ratio", "c_100"), List.of("score"));
  }

  private static void sharpness(OnnxModelWriter w) {
    luma(w);
    w.initializer("k_lap", new long[] {1, 1, 3, 3}, 0, 1, 0, 1, -4, 1, 0, 1, 0)
        .node("Conv", List.of("luma", "k_lap"), List.of("lap"));
    moments(w, "lap", "lap");
    saturate(w, "lap_var", 0.001f);
  }

  private static void exposure(OnnxModelWriter w) {
    luma(w);
    constant(w, "c_half", 0.5f);
    constant(w, "c_two", 2f);
    constant(w, "c_one", 1f);
    constant(w, "c_100", 100f);
    w.node("ReduceMean", List.of("luma"), List.of("m"), MEAN_ALL)
        .node("Sub", List.of("m", "c_half"), List.of("off"))
        .node("Abs", List.of("off"), List.of("dist"))
        .node("Mul", List.of("dist", "c_two"), List.of("dist2"))
        .node("Sub", List.of("c_one", "dist2"), List.of("good"))
        .node("Mul", List.of("good", "c_100"), List.of("score"));
  }

  private static void contrast(OnnxModelWriter w) {
    luma(w);
    moments(w, "luma", "l");
    w.node("Sqrt", List.of("l_var"), List.of("l_std"));
    saturate(w, "l_std", 0.1f);
  }

  private static void colorfulness(OnnxModelWriter w) {
    w.initializer("k_rg", new long[] {1, 3, 1, 1}, 1, -1, 0)
        .initializer("k_yb", new long[] {1, 3, 1, 1}, 0.5f, 0.5f, -1)
        .node("Conv", List.of("image", "k_rg"), List.of("rg"))
        .node("Conv", List.of("image", "k_yb"), List.of("yb"));
    moments(w, "rg", "rg");
    moments(w, "yb", "yb");
    constant(w, "c_03", 0.3f);
    w.node("Add", List.of("rg_var", "yb_var"), List.of("var_sum"))
        .node("Sqrt", List.of("var_sum"), List.of("sigma"))
        .node("Add", List.of("rg_mean2", "yb_mean2"), List.of("mu_sq"))
        .node("Sqrt", List.of("mu_sq"), List.of("mu"))
        .node("Mul", List.of("mu", "c_03"), List.of("mu03"))
        .node("Add", List.of("sigma", "mu03"), List.of("colourfulness"));
    saturate(w, "colourfulness", 0.15f);
  }

  private static void noise(OnnxModelWriter w) {
    luma(w);
    // Immerkaer (1996): sigma = sqrt(pi/2) / 6 * mean |I * N|, N = [1 -2 1; -2 4 -2; 1 -2 1].
    w.initializer("k_noise", new long[] {1, 1, 3, 3}, 1, -2, 1, -2, 4, -2, 1, -2, 1)
        .node("Conv", List.of("luma", "k_noise"), List.of("hp"))
        .node("Abs", List.of("hp"), List.of("hp_abs"))
        .node("ReduceMean", List.of("hp_abs"), List.of("hp_mean"), MEAN_ALL);
    constant(w, "c_immerkaer", (float) (Math.sqrt(Math.PI / 2) / 6));
    constant(w, "c_noise", 0.01f);
    constant(w, "c_100", 100f);
    w.node("Mul", List.of("hp_mean", "c_immerkaer"), List.of("sigma"))
        .node("Add", List.of("sigma", "c_noise"), List.of("den"))
        .node("Div", List.of("c_noise", "den"), List.of("clean"))
        .node("Mul", List.of("clean", "c_100"), List.of("score"));
  }
}
