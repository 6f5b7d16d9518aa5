package io.iqa.bench;

import io.iqa.sidecar.image.ImageDecoder;
import io.iqa.sidecar.image.Need;
import io.iqa.sidecar.model.ImageInput;
import io.iqa.sidecar.model.ImageModel;
import io.iqa.sidecar.model.ModelRegistry;
import io.iqa.sidecar.model.builtin.Builtins;
import io.iqa.sidecar.samples.SampleImages;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** {@link PhotosBench}'s batch rows: what one more photo costs through {@code score} and through a sidecar. */
final class PhotosMarginal {

  /** Distinct camera-size photos for the marginal cost. */
  private static final int PHOTOS = 16;

  private final Path jar;
  private final int batchRuns;

  PhotosMarginal(Path jar, int batchRuns) {
    this.jar = jar;
    this.batchRuns = batchRuns;
  }

  /**
   * 16 distinct 12 MP photos through the one-shot {@code score} (a process of the sidecar's jar) and
   * through a sidecar with 4 clients: the marginal cost per photo ((16 photos - 1 photo) / 15) against
   * what the work itself costs on this machine's cores (djpeg at the scale the default set decodes at,
   * plus the models' own time, both measured here on the same photos).
   */
  void measure(ResultTable t, ModelRegistry registry, ImageDecoder decoder) throws Exception {
    Path dir = Path.of("bench/target/photos-12mp");
    Files.createDirectories(dir);
    List<Path> files = new ArrayList<>();
    for (int i = 0; i < PHOTOS; i++) {
      Path f = dir.resolve("photo-" + i + ".jpg");
      if (!Files.isRegularFile(f)) {
        System.out.println("making 12 MP photo " + (i + 1) + " of " + PHOTOS + " under " + dir + "...");
        Files.write(f, SampleImages.jpeg(SampleImages.photo(4000, 3000, 100 + i), 0.92f));
      }
      files.add(f);
    }
    Need need = Need.NONE;
    for (ImageModel m : registry.models()) {
      need = need.and(m.need());
    }
    int reduction = need.reduction(4000, 3000);
    double[] djpeg = new double[PHOTOS];
    double[] models = new double[PHOTOS];
    double[] ours = new double[PHOTOS];
    for (int i = 0; i < PHOTOS; i++) {
      djpeg[i] = PhotosBench.djpeg(files.get(i), reduction, 5);
      byte[] bytes = Files.readAllBytes(files.get(i));
      try (ImageInput in = ImageInput.lazy(bytes, decoder, need)) {
        PhotosBench.prepare(in);
        models[i] = PhotosBench.modelsOnly(registry.models(), in);
      }
      // This path's own decode and resizes, warm, on one thread (the best of 3).
      ours[i] = Double.MAX_VALUE;
      for (int r = 0; r < 3; r++) {
        try (ImageInput in = ImageInput.lazy(bytes, decoder, need)) {
          long t0 = System.nanoTime();
          PhotosBench.prepare(in);
          ours[i] = Math.min(ours[i], PhotosBench.ms(t0));
        }
      }
    }
    int cores = Runtime.getRuntime().availableProcessors();
    double work = (PhotosBench.median(djpeg) + PhotosBench.median(models)) / cores;
    System.out.println("16 photos through score...");
    double[] one = new double[batchRuns];
    double[] all = new double[batchRuns];
    for (int r = 0; r < batchRuns; r++) {
      one[r] = scoreProcess(files.subList(0, 1));
      all[r] = scoreProcess(files);
    }
    double viaScore = (PhotosBench.median(all) - PhotosBench.median(one)) / (PHOTOS - 1);
    System.out.println("16 photos through a sidecar, 4 clients...");
    double viaSidecar;
    Path tmp = Files.createTempDirectory("bench-photos");
    try (SidecarRun s = SidecarRun.start(new JsonObject().put("models", Builtins.entries()).put("idle_release_s", 0),
        tmp, jar.toString(), java.util.Map.of())) {
      List<byte[]> jpegs = new ArrayList<>();
      for (Path f : files) {
        jpegs.add(Files.readAllBytes(f));
      }
      int[] seq = {0};
      sidecarBatch(s, jpegs.subList(0, 4), seq); // warm: the worker's first full-size photos
      double[] sOne = new double[batchRuns];
      double[] sAll = new double[batchRuns];
      for (int r = 0; r < batchRuns; r++) {
        sOne[r] = sidecarBatch(s, jpegs.subList(0, 1), seq);
        sAll[r] = sidecarBatch(s, jpegs, seq);
      }
      viaSidecar = (PhotosBench.median(sAll) - PhotosBench.median(sOne)) / (PHOTOS - 1);
    }
    String ref = String.format("(djpeg -scale 1/%d %.1f ms + models %.1f ms) / %d cores = %.1f ms", reduction,
        PhotosBench.median(djpeg), PhotosBench.median(models), cores, work);
    double floor = (PhotosBench.median(ours) + PhotosBench.median(models)) / cores;
    t.row("16 distinct 12 MP photos (4000x3000): the work per photo", ref, "", "")
        .row("the least this path can cost per photo on these cores: (its own decode + resizes " + PhotosBench.fmt(PhotosBench.median(ours))
            + " + models " + PhotosBench.fmt(PhotosBench.median(models)) + ") / " + cores + ", warm, with no overhead",
            PhotosBench.fmt(floor) + " = " + String.format("%.2f", floor / work) + " x the work", "", "")
        .row("marginal cost per photo through score: (16 photos " + PhotosBench.fmt(PhotosBench.median(all)) + " - 1 photo " + PhotosBench.fmt(PhotosBench.median(one))
            + ") / 15", PhotosBench.fmt(viaScore) + " = " + String.format("%.2f", viaScore / work) + " x the work", "<= 1.2 x",
            ResultTable.check(viaScore / work, 1.2, false))
        .row("marginal cost per photo through a sidecar, 4 clients", PhotosBench.fmt(viaSidecar) + " = "
            + String.format("%.2f", viaSidecar / work) + " x the work", "<= 1.2 x",
            ResultTable.check(viaSidecar / work, 1.2, false));
  }

  /** @return ms for {@code java -cp JAR SidecarMain score FILES} with the default set */
  private double scoreProcess(List<Path> files) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", jar.toString(), io.iqa.sidecar.SidecarMain.class.getName(), "score"));
    files.forEach(f -> cmd.add(f.toString()));
    long t0 = System.nanoTime();
    Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
    p.getInputStream().readAllBytes();
    if (p.waitFor() != 0) {
      throw new IllegalStateException("score exited with " + p.exitValue());
    }
    return PhotosBench.ms(t0);
  }

  /** Sends the photos (each new to the cache) from 4 client threads. @return ms until all are answered */
  private static double sidecarBatch(SidecarRun s, List<byte[]> jpegs, int[] seq) throws Exception {
    java.util.concurrent.atomic.AtomicInteger next = new java.util.concurrent.atomic.AtomicInteger();
    int base = seq[0];
    seq[0] += jpegs.size();
    java.util.concurrent.ExecutorService clients = java.util.concurrent.Executors.newFixedThreadPool(4);
    long t0 = System.nanoTime();
    try {
      List<java.util.concurrent.Future<?>> done = new ArrayList<>();
      for (int c = 0; c < 4; c++) {
        done.add(clients.submit(() -> {
          for (int i = next.getAndIncrement(); i < jpegs.size(); i = next.getAndIncrement()) {
            s.infer(SidecarRun.distinct(jpegs.get(i), base + i));
          }
          return null;
        }));
      }
      for (var f : done) {
        f.get();
      }
      return PhotosBench.ms(t0);
    } finally {
      clients.shutdownNow();
    }
  }

}
