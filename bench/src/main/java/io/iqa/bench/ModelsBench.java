package io.iqa.bench;

import io.iqa.protocol.wire.ScoreAnswer;
import io.iqa.sidecar.image.ImageDecoder;
import io.iqa.sidecar.model.ImageModel;
import io.iqa.sidecar.model.ImageScorer;
import io.iqa.sidecar.model.ModelRegistry;
import io.iqa.sidecar.samples.SampleImages;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The default (weight-free) model set on CPU, in-process: load time, and images per second
 * through the same path as {@code score} (hash, decode, every model) at batch 1 and batch 8.
 */
@Command(name = "models", description = "Default model set: load time and images/s at batch 1 and batch 8 (CPU).")
final class ModelsBench extends BenchCommand {

  @Option(names = "--images", defaultValue = "96", description = "images per measured pass") int images;
  @Option(names = "--rounds", defaultValue = "3", description = "measured passes per batch size, best kept") int rounds;
  @Option(names = "--size", defaultValue = "512", description = "image side in pixels") int size;

  @Override
  public Integer call() throws Exception {
    List<byte[]> jpegs = corpus();
    long t0 = System.nanoTime();
    ModelRegistry batch1 = ModelRegistry.load(config(1), Path.of("."));
    double loadMs = (System.nanoTime() - t0) / 1e6;
    ModelRegistry batch8 = ModelRegistry.load(config(8), Path.of("."));
    try {
      StringBuilder perModel = new StringBuilder();
      for (ImageModel m : batch1.models()) {
        perModel.append(perModel.length() == 0 ? "" : ", ").append(m.name()).append(' ').append(m.loaded().loadMs()).append(" ms");
      }
      System.out.println("warming up...");
      rate(batch1, jpegs, 1);
      rate(batch8, jpegs, 1);
      double r1 = rate(batch1, jpegs, rounds);
      double r8 = rate(batch8, jpegs, rounds);
      new ResultTable("Default model set (5 built-in ONNX models), CPU, in-process")
          .note(images + " distinct " + size + "x" + size + " JPEGs per pass; each image is hashed, decoded and "
              + "scored by all 5 models (input 256x256); best of " + rounds + " passes after a warm-up pass")
          .note("ONNX Runtime default threads on this machine's cores; devices: "
              + batch1.models().stream().map(m -> m.loaded().device()).distinct().toList())
          .row("load time, all 5 models (cold, includes writing the ONNX files)", String.format("%.0f ms", loadMs), "", "")
          .row("load time per model", perModel.toString(), "", "")
          .row("images/s at batch 1", String.format("%.1f", r1), "", "")
          .row("images/s at batch 8", String.format("%.1f", r8), "", "")
          .row("batch 8 / batch 1", String.format("%.2f", r8 / r1), "", "")
          .printAndWrite(results.or("models-default.md"));
      return 0;
    } finally {
      batch1.close();
      batch8.close();
    }
  }

  private static JsonObject config(int maxBatch) {
    return new JsonObject().put("device", "cpu").put("max_batch", maxBatch)
        .put("models", io.iqa.sidecar.model.builtin.Builtins.entries());
  }

  /** Best images/s of {@code passes} passes over the corpus. */
  private static double rate(ModelRegistry registry, List<byte[]> jpegs, int passes) throws Exception {
    ImageScorer scorer = new ImageScorer(new ImageDecoder(), registry);
    double best = 0;
    for (int p = 0; p < passes; p++) {
      long t0 = System.nanoTime();
      List<ScoreAnswer> answers = scorer.score(jpegs, registry.models());
      double seconds = (System.nanoTime() - t0) / 1e9;
      if (answers.stream().anyMatch(a -> a.error() != null)) {
        throw new IllegalStateException("an image failed: " + answers);
      }
      best = Math.max(best, jpegs.size() / seconds);
    }
    return best;
  }

  private List<byte[]> corpus() throws Exception {
    Random rnd = new Random(11);
    List<byte[]> list = new ArrayList<>();
    var base = SampleImages.scene(size);
    for (int i = 0; i < images; i++) {
      int shift = rnd.nextInt(60) - 30;
      list.add(SampleImages.jpeg(SampleImages.perChannel(base, v -> v + shift)));
    }
    return list;
  }
}
