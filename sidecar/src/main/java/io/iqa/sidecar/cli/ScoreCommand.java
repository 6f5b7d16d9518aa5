package io.iqa.sidecar.cli;

import io.iqa.protocol.wire.ScoreAnswer;
import io.iqa.sidecar.image.ImageDecoder;
import io.iqa.sidecar.model.DaemonThreads;
import io.iqa.sidecar.model.ImageModel;
import io.iqa.sidecar.model.ImageScorer;
import io.iqa.sidecar.model.ModelRegistry;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code score [--conf FILE] [--models a,b] IMAGE...}: loads the models once, prints one JSON line
 * per image (the /infer answer plus {@code path}, or {@code path} with {@code error} and
 * {@code message}), and exits 0 when every image was scored, 1 when any was not, 2 when the
 * configuration or a model is wrong, 3 when its GPU lease was lost (or none came and one is
 * required). With a broker configured and a CUDA device it holds a GPU lease while it runs
 * ({@link OneShotLease}). What the client's container fallback runs.
 */
@Command(name = "score", mixinStandardHelpOptions = true,
    description = "Score images once and print one JSON line per image.")
public final class ScoreCommand implements Callable<Integer> {

  @Option(names = "--conf", description = "sidecar config JSON (default: the built-in weight-free model set)")
  Path conf;

  @Option(names = "--models", split = ",", description = "only these models (default: all in the config)")
  List<String> models;

  @Option(names = "--table", description = "a table for people instead of JSON lines") boolean table;
  @Parameters(arity = "1..*", paramLabel = "IMAGE", description = "image files") List<Path> images;

  @Override
  public Integer call() throws Exception {
    PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    // A config mistake (ConfigException, exit 2) or an IqaException from the lease (exit 3) goes to SidecarMain's handler.
    JsonObject config = SidecarConfig.read(conf);
    try (OneShotLease lease = OneShotLease.take(config, SidecarConfig.baseDir(conf))) {
      return score(out, config, lease);
    }
  }

  private int score(PrintStream out, JsonObject config, OneShotLease lease) throws Exception {
    try (ModelRegistry registry = ModelRegistry.load(config, SidecarConfig.baseDir(conf))) {
      int cores = Runtime.getRuntime().availableProcessors();
      ExecutorService modelPool = Executors.newFixedThreadPool(cores, DaemonThreads.factory("score-model"));
      ImageScorer scorer = new ImageScorer(new ImageDecoder(
          config.getLong("max_image_bytes", ImageDecoder.DEFAULT_MAX_BYTES),
          config.getLong("max_image_pixels", ImageDecoder.DEFAULT_MAX_PIXELS)), registry, modelPool);
      List<ImageModel> chosen = registry.select(models);
      boolean allOk = true;
      ScoreTable tableOut = table ? new ScoreTable(chosen.stream().map(ImageModel::name).toList(),
          chosen.stream().map(m -> registry.scale(m.name()).describe()).toList()) : null;
      // Files are read and decoded on a pool sized to the cores, up to two batches ahead, while the
      // models run on the batch before: no stage waits for the whole list.
      int batchSize = registry.maxBatch();
      ExecutorService pool = Executors.newFixedThreadPool(cores, DaemonThreads.factory("score-decode"));
      List<Future<ImageScorer.Prepared>> ahead = new ArrayList<>();
      try {
        int submitted = 0;
        for (int from = 0; from < images.size(); from += batchSize) {
          for (; submitted < Math.min(images.size(), from + 3 * batchSize); submitted++) {
            Path p = images.get(submitted);
            ahead.add(pool.submit(() -> prepare(scorer, p, chosen)));
          }
          List<ImageScorer.Prepared> batch = new ArrayList<>();
          List<Path> paths = images.subList(from, Math.min(images.size(), from + batchSize));
          for (int i = 0; i < paths.size(); i++) {
            batch.add(ahead.get(from + i).get());
            ahead.set(from + i, null);
          }
          if (lease.lost() != null) {
            // Stop using the GPU: no more model calls; the lease is released once the models are closed.
            for (Path p : paths) {
              emit(out, tableOut, error(p, "lease_lost", "not scored: " + lease.lost().message()));
            }
            batch.forEach(ImageScorer.Prepared::close);
            continue;
          }
          List<ScoreAnswer> answers = scorer.scoreBatch(batch, chosen);
          for (int i = 0; i < answers.size(); i++) {
            ScoreAnswer a = answers.get(i).withPath(paths.get(i).toString());
            allOk &= a.error() == null;
            emit(out, tableOut, a);
          }
        }
      } finally {
        pool.shutdownNow();
        modelPool.shutdownNow();
        for (Future<ImageScorer.Prepared> f : ahead) {
          if (f != null && !f.cancel(false) && f.isDone() && !f.isCancelled()) {
            try {
              f.get().close();
            } catch (ExecutionException ignored) {
              // it failed: nothing of it is open
            }
          }
        }
      }
      if (tableOut != null) {
        out.print(tableOut.render());
      }
      return lease.lost() != null ? 3 : allOk ? 0 : 1;
    }
  }

  /** Reads and decodes one file (on the pool). */
  private static ImageScorer.Prepared prepare(ImageScorer scorer, Path p, List<ImageModel> models) {
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(p);
    } catch (NoSuchFileException e) {
      return ImageScorer.Prepared.failed(errorAnswer("not_found", "no such file: " + p));
    } catch (IOException e) {
      return ImageScorer.Prepared.failed(errorAnswer("unreadable", "cannot read " + p + ": " + e.getMessage()));
    }
    return scorer.prepare(bytes, models);
  }

  private static void emit(PrintStream out, ScoreTable table, ScoreAnswer answer) {
    if (table != null) {
      table.add(answer);
    } else {
      out.println(new JsonObject(answer.toMap()).encode());
    }
  }

  private static ScoreAnswer error(Path p, String code, String message) {
    return errorAnswer(code, message).build().withPath(p.toString());
  }

  /** The answer for an image that was not scored; its path is added with every answer's. */
  private static ScoreAnswer.Builder errorAnswer(String code, String message) {
    return new ScoreAnswer.Builder(null).error(code, message);
  }


}
