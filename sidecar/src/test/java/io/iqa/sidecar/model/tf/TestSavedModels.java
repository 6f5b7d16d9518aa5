package io.iqa.sidecar.model.tf;

import java.nio.file.Path;
import java.util.function.BiFunction;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.SavedModelBundle;
import org.tensorflow.Session;
import org.tensorflow.SessionFunction;
import org.tensorflow.Signature;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.image.DecodeJpeg;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TString;

/** Tiny SavedModels with the exact published NIMA and MUSIQ signatures, exported by TF Java. */
final class TestSavedModels {

  private TestSavedModels() {
  }

  /**
   * NIMA-shaped: input_image float [-1,224,224,3] -> quality_prediction [-1,10] computed as
   * mean(input) * w + b, so a test can read the preprocessed input back (w = e0, b = 0) or get a
   * known distribution (w = 0, b = p).
   */
  static Path nima(Path dir, String signatureKey, float[] w, float[] b) throws Exception {
    try (Graph g = new Graph(); Session s = new Session(g)) {
      Ops tf = Ops.create(g);
      Placeholder<TFloat32> x = tf.withName("input_image").placeholder(TFloat32.class,
          Placeholder.shape(Shape.of(-1, 224, 224, 3)));
      Operand<TFloat32> mean = tf.reshape(tf.math.mean(x, tf.constant(new int[] {1, 2, 3})), tf.constant(new int[] {-1, 1}));
      Operand<TFloat32> out = tf.math.add(tf.math.mul(mean, tf.constant(new float[][] {w})), tf.constant(new float[][] {b}));
      export(dir, s, Signature.builder(signatureKey).input("input_image", x).output("quality_prediction", out).build());
    }
    return dir;
  }

  /** MUSIQ-shaped: image_bytes_tensor scalar string -> output_0 = its length in bytes. */
  static Path musiqLength(Path dir) throws Exception {
    return musiq(dir, (tf, x) -> tf.dtypes.cast(tf.strings.stringLength(x), TFloat32.class));
  }

  /** MUSIQ-shaped: decodes the JPEG bytes in-graph and returns their mean pixel value. */
  static Path musiqDecode(Path dir) throws Exception {
    return musiq(dir, (tf, x) -> tf.math.mean(
        tf.dtypes.cast(tf.image.decodeJpeg(x, DecodeJpeg.channels(3L)), TFloat32.class), tf.constant(new int[] {0, 1, 2})));
  }

  private static Path musiq(Path dir, BiFunction<Ops, Operand<TString>, Operand<TFloat32>> score) throws Exception {
    try (Graph g = new Graph(); Session s = new Session(g)) {
      Ops tf = Ops.create(g);
      Placeholder<TString> x = tf.withName("image_bytes_tensor").placeholder(TString.class,
          Placeholder.shape(Shape.scalar()));
      export(dir, s, Signature.builder("serving_default").input("image_bytes_tensor", x)
          .output("output_0", score.apply(tf, x)).build());
    }
    return dir;
  }

  private static void export(Path dir, Session s, Signature sig) throws Exception {
    SavedModelBundle.exporter(dir.toString()).withTags("serve").withFunction(SessionFunction.create(sig, s)).export();
  }
}
