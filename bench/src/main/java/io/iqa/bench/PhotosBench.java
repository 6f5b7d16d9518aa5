package io.iqa.bench;

import io.iqa.sidecar.image.Fit;
import io.iqa.sidecar.image.ImageDecoder;
import io.iqa.sidecar.image.Need;
import io.iqa.sidecar.model.ImageInput;
import io.iqa.sidecar.model.ImageModel;
import io.iqa.sidecar.model.ModelRegistry;
import io.iqa.sidecar.model.builtin.BrisqueModel;
import io.iqa.sidecar.model.builtin.Builtins;
import io.iqa.sidecar.model.builtin.TechnicalModels;
import io.iqa.sidecar.samples.DebianSamples;
import io.iqa.sidecar.samples.SampleImages;
import io.vertx.core.json.JsonObject;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import javax.imageio.ImageIO;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Camera-size photos through the whole default set, per image, in-process on CPU: the new path (OpenCV
 * libjpeg-turbo at the smallest DCT scale the models need, one resize per input size) against the
 * path the sidecar had before (ImageIO at full size, an upright copy, one Java2D bilinear resize
 * per model, reproduced here as it was), and the new decode+resize against libjpeg-turbo's own
 * {@code djpeg} at the same scale. The model calls are the same in both; the end-to-end figure of
 * the old path is its decode+resize plus the models' time.
 */
@Command(name = "photos",
    description = "12-15 MP JPEGs -> all default-set scores: new decode path vs the old one, vs djpeg.")
final class PhotosBench extends BenchCommand {

  @Option(names = "--runs", defaultValue = "12", description = "timed runs per path, median kept") int runs;
  @Option(names = "--batch-runs", defaultValue = "3", description = "timed runs of the 16-photo batch, median kept")
  int batchRuns;
  /** The build whose score command and service the 16-photo batch goes through. */
  @Mixin SidecarJar sidecar;


  /** Real photos from Debian's plasma-workspace-wallpapers (14.7 MP, baseline and progressive JPEG). */
  private static final String[][] PHOTOS = {
      {"SafeLanding 5120x2880 (baseline)", "/usr/share/wallpapers/SafeLanding/contents/images/5120x2880.jpg"},
      {"Shell 5120x2880 (baseline)", "/usr/share/wallpapers/Shell/contents/images/5120x2880.jpg"},
      {"Volna 5120x2880 (progressive)", "/usr/share/wallpapers/Volna/contents/images/5120x2880.jpg"}};

  private record Photo(String name, byte[] jpeg, int width, int height) {
  }

  @Override
  public Integer call() throws Exception {
    List<Photo> photos = new ArrayList<>();
    for (String[] p : PHOTOS) {
      try {
        byte[] bytes = Files.readAllBytes(DebianSamples.file("plasma-workspace-wallpapers", p[1]));
        photos.add(new Photo(p[0], bytes, 5120, 2880));
      } catch (Exception e) {
        System.out.println("no " + p[0] + " (" + e.getMessage() + "); using the synthetic photo only");
      }
    }
    System.out.println("making a synthetic 4000x3000 photo...");
    photos.add(new Photo("synthetic 4000x3000 (baseline)", SampleImages.jpeg(SampleImages.photo(4000, 3000, 7), 0.92f),
        4000, 3000));
    ImageDecoder decoder = new ImageDecoder();
    try (ModelRegistry registry = ModelRegistry.load(new JsonObject().put("device", "cpu").put("max_batch", 1)
        .put("models", Builtins.entries()), Path.of("."))) {
      ResultTable t = new ResultTable("Photos through the default set (5 technical measures + BRISQUE), CPU")
          .note("real photos from Debian's plasma-workspace-wallpapers (fetched with apt-get download), and a "
              + "synthetic 12 MP photo (the sample scene with sensor-like noise, quality 0.92); in-process; medians "
              + "of " + runs + " runs after 3 warm-up runs")
          .note("new path: OpenCV imdecode (libjpeg-turbo) at the smallest DCT scale the models need (1/8 for the "
              + "technical measures' 256 px, 1/4 once BRISQUE's 768 px working size is asked for), EXIF applied, "
              + "then one area resize per input size")
          .note("old path (the sidecar before this change, reproduced): ImageIO full-size decode, an upright RGB "
              + "copy, one Java2D bilinear resize per model; its end to end = its decode+resize + the same model time")
          .note("djpeg: libjpeg-turbo's command line, -scale 1/N to /dev/null, process start subtracted");
      new PhotosMarginal(sidecar.jar, batchRuns).measure(t, registry, decoder);
      for (Photo photo : photos) {
        measure(t, registry, decoder, photo);
      }
      t.printAndWrite(results.or("photos.md"));
      return 0;
    }
  }

  private void measure(ResultTable t, ModelRegistry registry, ImageDecoder decoder, Photo photo) throws Exception {
    System.out.println("measuring " + photo.name() + "...");
    Path file = Files.createTempFile("bench-photo", ".jpg");
    Files.write(file, photo.jpeg());
    try {
      Need need = Need.NONE;
      for (ImageModel m : registry.models()) {
        need = need.and(m.need());
      }
      int reduction = need.reduction(photo.width(), photo.height());
      Need tech = Need.ofInput(TechnicalModels.SIZE, TechnicalModels.SIZE);
      int techReduction = tech.reduction(photo.width(), photo.height());
      List<ImageModel> five = registry.models().subList(0, TechnicalModels.NAMES.size());
      for (int i = 0; i < 3; i++) { // warm-up: the JIT, OpenCV's and ONNX Runtime's first calls
        scoreAll(registry.models(), ImageInput.lazy(photo.jpeg(), decoder, need));
        legacyPrepare(photo.jpeg(), true);
      }
      double[] newAll = new double[runs];
      double[] newFive = new double[runs];
      double[] modelsAll = new double[runs];
      double[] modelsFive = new double[runs];
      double[] newPrep = new double[runs];
      double[] oldPrepAll = new double[runs];
      double[] oldPrepFive = new double[runs];
      for (int i = 0; i < runs; i++) {
        long t0 = System.nanoTime();
        scoreAll(registry.models(), ImageInput.lazy(photo.jpeg(), decoder, need));
        newAll[i] = ms(t0);
        t0 = System.nanoTime();
        scoreAll(five, ImageInput.lazy(photo.jpeg(), decoder, tech));
        newFive[i] = ms(t0);
        t0 = System.nanoTime();
        try (ImageInput in = ImageInput.lazy(photo.jpeg(), decoder, need)) {
          prepare(in);
          newPrep[i] = ms(t0);
          modelsAll[i] = modelsOnly(registry.models(), in);
          modelsFive[i] = modelsOnly(five, in);
        }
        t0 = System.nanoTime();
        legacyPrepare(photo.jpeg(), true);
        oldPrepAll[i] = ms(t0);
        t0 = System.nanoTime();
        legacyPrepare(photo.jpeg(), false);
        oldPrepFive[i] = ms(t0);
      }
      double oldFive = median(oldPrepFive) + median(modelsFive);
      double oldAll = median(oldPrepAll) + median(modelsAll);
      double djpeg = djpeg(file, reduction, runs);
      double djpegFive = djpeg(file, techReduction, runs);
      String p = photo.name() + ", " + photo.jpeg().length / 1024 + " KiB: ";
      t.row(p + "five measures, end to end old -> new (1/" + techReduction + ")", fmt(oldFive) + " -> "
              + fmt(median(newFive)), "", "")
          .row(p + "five measures, old / new", String.format("%.1fx", oldFive / median(newFive)), ">= 5x",
              ResultTable.check(oldFive / median(newFive), 5, true))
          .row(p + "default set, end to end old -> new (1/" + reduction + ")", fmt(oldAll) + " -> "
              + fmt(median(newAll)), "", "")
          .row(p + "default set, old / new", String.format("%.1fx", oldAll / median(newAll)), ">= 5x",
              ResultTable.check(oldAll / median(newAll), 5, true))
          .row(p + "decode+resize new (1/" + reduction + ") / djpeg -scale 1/" + reduction,
              fmt(median(newPrep)) + " / " + fmt(djpeg) + " = " + String.format("%.2f", median(newPrep) / djpeg),
              "<= 2", ResultTable.check(median(newPrep) / djpeg, 2, false))
          .row(p + "djpeg -scale 1/" + techReduction + " (the entropy-decoding floor) / models' own time, five / six",
              fmt(djpegFive) + " / " + fmt(median(modelsFive)) + " / " + fmt(median(modelsAll)), "", "");
    } finally {
      Files.deleteIfExists(file);
    }
  }

  private static void scoreAll(List<ImageModel> models, ImageInput in) throws Exception {
    try (in) {
      in.decoded();
      for (ImageModel m : models) {
        m.score(List.of(in));
      }
    }
  }

  /** Decode and every resize the default set asks for. */
  static void prepare(ImageInput in) throws Exception {
    var d = in.decoded();
    in.rgb(TechnicalModels.SIZE, TechnicalModels.SIZE, Fit.STRETCH);
    double s = Math.min(1.0, BrisqueModel.WORKING_LONG_SIDE / (double) Math.max(d.width(), d.height()));
    in.rgb((int) Math.round(d.width() * s), (int) Math.round(d.height() * s), Fit.STRETCH);
  }

  /** Models on an input whose resizes are cached: their own time. */
  static double modelsOnly(List<ImageModel> models, ImageInput in) throws Exception {
    for (ImageModel m : models) {
      m.score(List.of(in)); // fills the resize cache
    }
    long t0 = System.nanoTime();
    for (ImageModel m : models) {
      m.score(List.of(in));
    }
    return ms(t0);
  }

  /** The old decode path, as the sidecar had it: full-size ImageIO, an upright copy, a Java2D resize per model. */
  private static void legacyPrepare(byte[] jpeg, boolean withBrisque) throws Exception {
    BufferedImage read = ImageIO.read(new ByteArrayInputStream(jpeg));
    BufferedImage upright = new BufferedImage(read.getWidth(), read.getHeight(), BufferedImage.TYPE_INT_RGB);
    Graphics2D g = upright.createGraphics();
    g.drawImage(read, 0, 0, null);
    g.dispose();
    for (int i = 0; i < TechnicalModels.NAMES.size(); i++) {
      javaResize(upright, TechnicalModels.SIZE, TechnicalModels.SIZE);
    }
    if (withBrisque) {
      javaResize(upright, 768, (int) Math.round(768.0 * upright.getHeight() / upright.getWidth()));
    }
  }

  private static int[] javaResize(BufferedImage img, int w, int h) {
    BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = out.createGraphics();
    g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
    g.drawImage(img, 0, 0, w, h, null);
    g.dispose();
    return out.getRGB(0, 0, w, h, null, 0, w);
  }

  /** Median wall time of {@code djpeg -scale 1/r}, less the median start of {@code true}; NaN without djpeg. */
  static double djpeg(Path file, int r, int runs) throws Exception {
    if (!Files.isExecutable(Path.of("/usr/bin/djpeg"))) {
      System.out.println("djpeg not found (Debian: libjpeg-turbo-progs); skipping that comparison");
      return Double.NaN;
    }
    double[] t = new double[runs];
    double[] spawn = new double[runs];
    for (int i = 0; i < runs; i++) {
      t[i] = time("/usr/bin/djpeg", "-scale", "1/" + r, "-outfile", "/dev/null", file.toString());
      spawn[i] = time("/bin/true");
    }
    return Math.max(0.1, median(t) - median(spawn));
  }

  private static double time(String... cmd) throws Exception {
    long t0 = System.nanoTime();
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    p.getInputStream().readAllBytes();
    if (p.waitFor() != 0) {
      throw new IllegalStateException(Arrays.toString(cmd) + " failed");
    }
    return ms(t0);
  }

  static double median(double[] v) {
    double[] c = v.clone();
    Arrays.sort(c);
    return c[c.length / 2];
  }

  static double ms(long t0) {
    return (System.nanoTime() - t0) / 1e6;
  }

  static String fmt(double ms) {
    return Double.isNaN(ms) ? "n/a" : String.format("%.1f ms", ms);
  }
}
