package io.iqa.sidecar.model.builtin;


import io.iqa.protocol.ScoreScale;
import io.iqa.sidecar.image.DecodedImage;
import io.iqa.sidecar.image.Need;
import io.iqa.sidecar.model.ImageInput;
import io.iqa.sidecar.model.ImageModel;
import io.iqa.sidecar.model.Score;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.opencv.opencv_core.FileStorage;
import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_ml.SVM;
import org.bytedeco.opencv.opencv_quality.QualityBRISQUE;

/**
 * BRISQUE (Mittal, Moorthy and Bovik, 2012), a published no-reference quality model trained on
 * the LIVE database's human opinion scores: OpenCV's {@code quality} module with the model and
 * range files OpenCV ships ({@code brisque_model_live.yml}, {@code brisque_range_live.yml}, read
 * from the {@code org.bytedeco:opencv} native jar). Scores run from about 0 (best) to 100
 * (worst): lower is better. Its statistics depend on scale, so an image larger than LIVE's
 * (768x512) is scored at a long side of {@value #WORKING_LONG_SIDE} pixels (area-averaged); a
 * smaller one as it is. On CPU, one image per call.
 */
public final class BrisqueModel implements ImageModel {

  /** 0 (best) to 100: lower is better. */
  public static final ScoreScale SCALE = new ScoreScale(0.0, 100.0, false);

  public static final String NAME = "brisque";
  /** The long side larger images are brought to: LIVE's images are 768x512. */
  public static final int WORKING_LONG_SIDE = 768;
  private static final String[] FILES = {"brisque_model_live.yml", "brisque_range_live.yml"};

  private final Loaded loaded;
  private final QualityBRISQUE brisque;

  private BrisqueModel(String name, QualityBRISQUE brisque, long loadMs) {
    this.loaded = new Loaded(name, "opencv", "cpu", null, loadMs,
        "8-bit colour, long side at most " + WORKING_LONG_SIDE + " (LIVE model)");
    this.brisque = brisque;
  }

  /** Loads the model files from the OpenCV jar, in memory. */
  public static BrisqueModel load(String name) throws IOException {
    long t0 = System.nanoTime();
    // What QualityBRISQUE.create(model_file, range_file) does, from memory instead of files.
    try (FileStorage model = new FileStorage(resource(FILES[0]), FileStorage.READ | FileStorage.MEMORY);
        FileStorage range = new FileStorage(resource(FILES[1]), FileStorage.READ | FileStorage.MEMORY)) {
      SVM svm = SVM.create();
      svm.read(model.getFirstTopLevelNode());
      QualityBRISQUE q = QualityBRISQUE.create(svm, range.getFirstTopLevelNode().mat());
      return new BrisqueModel(name, q, (System.nanoTime() - t0) / 1_000_000);
    }
  }

  private static String resource(String file) throws IOException {
    String base = "/org/bytedeco/opencv/" + Loader.getPlatform() + "/share/opencv4/quality/";
    try (InputStream in = BrisqueModel.class.getResourceAsStream(base + file)) {
      if (in == null) {
        throw new IOException("OpenCV's " + file + " is not on the classpath (" + base + "): the "
            + "org.bytedeco:opencv native jar for " + Loader.getPlatform() + " is missing");
      }
      return new String(in.readAllBytes(), StandardCharsets.US_ASCII);
    }
  }


  @Override
  public Loaded loaded() {
    return loaded;
  }

  @Override
  public Need need() {
    return new Need(0, WORKING_LONG_SIDE);
  }

  /**
   * BRISQUE halves the image for its second scale: at its working size (long side at most {@value
   * #WORKING_LONG_SIDE}) each side must keep at least 2 pixels, so a 1x1 image is too small and a
   * 2x5000 one too thin (OpenCV asserted on both).
   */
  @Override
  public String tooSmall(int width, int height) {
    double s = Math.min(1.0, WORKING_LONG_SIDE / (double) Math.max(width, height));
    if (Math.min(width, height) * s < 1.5) {
      return "it needs at least 2 pixels on each side once the long side is at most " + WORKING_LONG_SIDE
          + " (so at least 2x2, and at most " + WORKING_LONG_SIDE / 2 + " times longer than wide)";
    }
    return null;
  }

  @Override
  public ScoreScale scale() {
    return SCALE;
  }

  @Override
  public synchronized List<Score> score(List<ImageInput> images) throws Exception {
    List<Score> scores = new ArrayList<>(images.size());
    for (ImageInput input : images) {
      DecodedImage d = input.decoded();
      double s = Math.min(1.0, WORKING_LONG_SIDE / (double) Math.max(d.width(), d.height()));
      int w = Math.max(1, (int) Math.round(d.width() * s));
      int h = Math.max(1, (int) Math.round(d.height() * s));
      // OpenCV's BRISQUE turns colour into grey first: handing it grey skips an RGB copy and two conversions.
      try (Mat gray = d.gray(w, h)) {
        scores.add(new Score(brisque.compute(gray).get(0), null));
      }
    }
    return scores;
  }

  @Override
  public synchronized void close() {
    brisque.close();
  }
}
