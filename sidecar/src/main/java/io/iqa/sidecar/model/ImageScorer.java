package io.iqa.sidecar.model;

import io.iqa.protocol.ScoreScale;
import io.iqa.protocol.Sha256;
import io.iqa.protocol.wire.ScoreAnswer;
import io.iqa.sidecar.image.DecodedImage;
import io.iqa.sidecar.image.ImageDecodeException;
import io.iqa.sidecar.image.ImageDecoder;
import io.iqa.sidecar.image.Need;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;

/**
 * Image bytes in, scores out: hash, decode once (at the scale the chosen models need), then every
 * chosen model over the batch in one call per model. The answer has the /infer shape
 * ({@code sha256}, {@code scores}, {@code std}, {@code device}, {@code timings_ms}) plus the image's
 * {@code width} and {@code height} and each model's {@code scales}; an image that cannot be
 * decoded gets the error shape.
 */
public final class ImageScorer {

  private final ImageDecoder decoder;
  private final ModelRegistry registry;
  /** Runs the models of a batch side by side; null: one after the other on the calling thread. */
  private final ExecutorService modelPool;

  public ImageScorer(ImageDecoder decoder, ModelRegistry registry) {
    this(decoder, registry, null);
  }

  /** @param modelPool runs the models of a batch at once, each on its own thread (the cores are shared with decoding) */
  public ImageScorer(ImageDecoder decoder, ModelRegistry registry, ExecutorService modelPool) {
    this.decoder = decoder;
    this.registry = registry;
    this.modelPool = modelPool;
  }

  /**
   * One image made ready for the models: decoded at the scale they need, or already answered with
   * the error that stopped it. Made on any thread ({@link #prepare}); consumed by {@link #scoreBatch}.
   */
  public static final class Prepared {
    private final ScoreAnswer.Builder answer;
    private final ImageInput input;

    private Prepared(ScoreAnswer.Builder answer, ImageInput input) {
      this.answer = answer;
      this.input = input;
    }

    /** @return an image that failed before the models (unreadable file, say): its answer as it is */
    public static Prepared failed(ScoreAnswer.Builder answer) {
      return new Prepared(answer, null);
    }

    /** Frees its decoded pixels when it will not be scored. */
    public void close() {
      if (input != null) {
        input.close();
      }
    }
  }

  /**
   * Hashes and decodes one image at the scale {@code models} need. Safe on any thread: the
   * one-shot {@code score} prepares images on a pool sized to the cores while the models run.
   */
  public Prepared prepare(byte[] bytes, List<ImageModel> models) {
    long t0 = System.nanoTime();
    Need need = Need.NONE;
    for (ImageModel m : models) {
      need = need.and(m.need());
    }
    ScoreAnswer.Builder answer = new ScoreAnswer.Builder(Sha256.hex(bytes));
    ImageInput input = ImageInput.lazy(bytes, decoder, need.none() ? Need.ofInput(1, 1) : need);
    try {
      DecodedImage img = input.decoded();
      answer.size(img.fullWidth(), img.fullHeight()).timing("decode", ms(t0));
      ImageModel.checkSize(models, img.fullWidth(), img.fullHeight());
      return new Prepared(answer, input);
    } catch (ImageDecodeException e) {
      input.close();
      answer.error(e.errorCode().wireName(), e.getMessage());
      return Prepared.failed(answer);
    } catch (RuntimeException | Error e) {
      input.close();
      throw e;
    }
  }

  /**
   * Scores up to {@link ModelRegistry#maxBatch()} images; larger lists are cut into batches. Decodes
   * on the calling thread.
   * @return one answer per input, in order
   */
  public List<ScoreAnswer> score(List<byte[]> images, List<ImageModel> models) throws Exception {
    List<ScoreAnswer> out = new ArrayList<>(images.size());
    for (int from = 0; from < images.size(); from += registry.maxBatch()) {
      List<Prepared> batch = new ArrayList<>();
      for (byte[] bytes : images.subList(from, Math.min(images.size(), from + registry.maxBatch()))) {
        batch.add(prepare(bytes, models));
      }
      out.addAll(scoreBatch(batch, models));
    }
    return out;
  }

  /**
   * Every model over the prepared images, one call per model (at most {@link ModelRegistry#maxBatch()}
   * of them). Closes their decoded inputs. @return one answer per image, in order
   */
  public List<ScoreAnswer> scoreBatch(List<Prepared> batch, List<ImageModel> models) throws Exception {
    List<ScoreAnswer.Builder> answers = new ArrayList<>(batch.size());
    List<ImageInput> inputs = new ArrayList<>();
    List<ScoreAnswer.Builder> pending = new ArrayList<>();
    Map<String, ScoreScale> scales = new LinkedHashMap<>();
    models.forEach(m -> scales.put(m.name(), registry.scale(m.name())));
    for (Prepared p : batch) {
      answers.add(p.answer);
      if (p.input != null) {
        inputs.add(p.input);
        pending.add(p.answer);
      }
    }
    try {
      Set<String> devices = new LinkedHashSet<>();
      int batchSize = inputs.size();
      List<ImageInput> batchInputs = List.copyOf(inputs);
      List<Future<List<Object>>> runs = new ArrayList<>();
      double[] elapsed = new double[models.size()];
      for (int k = 0; k < models.size() && !batchInputs.isEmpty(); k++) {
        ImageModel model = models.get(k);
        int slot = k;
        Callable<List<Object>> run = () -> {
          long t0 = System.nanoTime();
          List<Object> r = scoreEach(model, batchInputs);
          elapsed[slot] = ms(t0);
          return r;
        };
        runs.add(modelPool != null ? modelPool.submit(run) : CompletableFuture.completedFuture(run.call()));
      }
      // In model order: an image a model failed on gets that error, and the later models' scores are dropped.
      boolean[] failed = new boolean[batchSize];
      for (int k = 0; k < runs.size(); k++) {
        ImageModel model = models.get(k);
        List<Object> results = get(runs.get(k));
        devices.add(model.loaded().device());
        for (int i = 0; i < batchSize; i++) {
          if (failed[i]) {
            continue;
          }
          if (results.get(i) instanceof Score score) {
            pending.get(i).score(model.name(), score.value(), score.std()).timing(model.name(), elapsed[k]);
          } else {
            // This image alone: it gets the error, the others go on to the next model.
            pending.get(i).error(io.iqa.protocol.wire.ErrorCode.MODEL_FAILED.wireName(), model.name()
                + " failed on this image: " + results.get(i));
            failed[i] = true;
          }
        }
      }
      List<ScoreAnswer.Builder> scored = new ArrayList<>();
      for (int i = 0; i < batchSize; i++) {
        if (!failed[i]) {
          scored.add(pending.get(i));
        }
      }
      pending = scored;
      String device = String.join("+", devices);
      for (ScoreAnswer.Builder a : pending) {
        a.ran(device, batchSize, scales);
      }
      return answers.stream().map(ScoreAnswer.Builder::build).toList();
    } finally {
      inputs.forEach(ImageInput::close);
    }
  }

  /**
   * One model over the batch; when it fails on the batch (or answers another number of scores), each
   * image alone, so one image it cannot take fails by itself. @return per image a {@link Score} or
   * what failed
   */
  private static List<Object> scoreEach(ImageModel model, List<ImageInput> inputs) {
    try {
      List<Score> scores = model.score(inputs);
      if (scores != null && scores.size() == inputs.size()) {
        return new ArrayList<>(scores);
      }
    } catch (Exception | LinkageError e) {
      if (inputs.size() == 1) {
        return new ArrayList<>(List.of(e.toString()));
      }
    }
    List<Object> out = new ArrayList<>(inputs.size());
    for (ImageInput input : inputs) {
      try {
        List<Score> one = model.score(List.of(input));
        out.add(one != null && one.size() == 1 ? one.get(0) : "it returned " + (one == null ? "no" : one.size())
            + " scores for 1 image");
      } catch (Exception | LinkageError e) {
        out.add(e.toString());
      }
    }
    return out;
  }

  private static List<Object> get(Future<List<Object>> f) throws Exception {
    try {
      return f.get();
    } catch (ExecutionException e) {
      throw e.getCause() instanceof Exception ex ? ex : new IllegalStateException(e.getCause());
    }
  }

  private static double ms(long t0) {
    return Math.round((System.nanoTime() - t0) / 10_000.0) / 100.0;
  }

}
