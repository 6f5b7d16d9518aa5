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
          inputs.add(input);
          pending.add(answer);
        } catch (ImageDecodeException e) {
          input.close();
          answer.error(e.errorCode().wireName(), e.getMessage());
        }
        answers.add(answer);
      }
      Set<String> devices = new LinkedHashSet<>();
      for (ImageModel model : inputs.isEmpty() ? List.<ImageModel>of() : models) {
        long t0 = System.nanoTime();
        List<Score> scores = model.score(inputs);
        double elapsed = ms(t0);
        devices.add(model.device());
        for (int i = 0; i < pending.size(); i++) {
          pending.get(i).score(model.name(), scores.get(i).value(), scores.get(i).std()).timing(model.name(), elapsed);
        }
      }
      String device = String.join("+", devices);
      for (ScoreAnswer.Builder a : pending) {
        a.device(device).batch(inputs.size()).scales(scales);
      }
      return answers.stream().map(ScoreAnswer.Builder::build).toList();
    } finally {
      inputs.forEach(ImageInput::close);
    }
  }

  private static double ms(long t0) {
    return Math.round((System.nanoTime() - t0) / 10_000.0) / 100.0;
  }

}
