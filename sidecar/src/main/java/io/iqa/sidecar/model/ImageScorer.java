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

  public ImageScorer(ImageDecoder decoder, ModelRegistry registry) {
    this.decoder = decoder;
    this.registry = registry;
  }

  /**
   * Scores up to {@link ModelRegistry#maxBatch()} images; larger lists are cut into batches.
   * @return one answer per input, in order
   */
  public List<ScoreAnswer> score(List<byte[]> images, List<ImageModel> models) throws Exception {
    List<ScoreAnswer> out = new ArrayList<>(images.size());
    for (int from = 0; from < images.size(); from += registry.maxBatch()) {
      out.addAll(scoreBatch(images.subList(from, Math.min(images.size(), from + registry.maxBatch())), models));
    }
    return out;
  }

  private List<ScoreAnswer> scoreBatch(List<byte[]> batch, List<ImageModel> models) throws Exception {
    List<ScoreAnswer.Builder> answers = new ArrayList<>(batch.size());
    List<ImageInput> inputs = new ArrayList<>();
    List<ScoreAnswer.Builder> pending = new ArrayList<>();
    Need need = Need.NONE;
    for (ImageModel m : models) {
      need = need.and(m.need());
    }
    Map<String, ScoreScale> scales = new LinkedHashMap<>();
    models.forEach(m -> scales.put(m.name(), registry.scale(m.name())));
    try {
      for (byte[] bytes : batch) {
        long t0 = System.nanoTime();
        ScoreAnswer.Builder answer = new ScoreAnswer.Builder(Sha256.hex(bytes));
        ImageInput input = ImageInput.lazy(bytes, decoder, need.none() ? Need.ofInput(1, 1) : need);
        try {
          DecodedImage img = input.decoded();
          answer.size(img.fullWidth(), img.fullHeight()).timing("decode", ms(t0));
          ImageModel.checkSize(models, img.fullWidth(), img.fullHeight());
          inputs.add(input);
          pending.add(answer);
        } catch (ImageDecodeException e) {
          input.close();
          answer.error(e.errorCode().wireName(), e.getMessage());
        }
        answers.add(answer);
      }
      Set<String> devices = new LinkedHashSet<>();
      int batchSize = inputs.size();
      for (ImageModel model : models) {
        if (inputs.isEmpty()) {
          break;
        }
        long t0 = System.nanoTime();
        List<Object> results = scoreEach(model, inputs);
        double elapsed = ms(t0);
        devices.add(model.device());
        for (int i = results.size() - 1; i >= 0; i--) {
          if (results.get(i) instanceof Score score) {
            pending.get(i).score(model.name(), score.value(), score.std()).timing(model.name(), elapsed);
          } else {
            // This image alone: it gets the error, the others go on to the next model.
            pending.get(i).error(io.iqa.protocol.wire.ErrorCode.MODEL_FAILED.wireName(), model.name() + " failed on this image: " + results.get(i));
            pending.remove(i);
            inputs.remove(i).close();
          }
        }
      }
      String device = String.join("+", devices);
      for (ScoreAnswer.Builder a : pending) {
        a.device(device).batch(batchSize).scales(scales);
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

  private static double ms(long t0) {
    return Math.round((System.nanoTime() - t0) / 10_000.0) / 100.0;
  }

}
