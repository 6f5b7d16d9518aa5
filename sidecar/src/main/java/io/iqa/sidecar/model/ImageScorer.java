package io.iqa.sidecar.model;

import io.iqa.protocol.Sha256;
import io.iqa.sidecar.image.DecodedImage;
import io.iqa.sidecar.image.ImageDecodeException;
import io.iqa.sidecar.image.ImageDecoder;
import io.iqa.sidecar.image.Need;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
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
   * @return one JSON answer per input, in order
   */
  public List<JsonObject> score(List<byte[]> images, List<ImageModel> models) throws Exception {
    List<JsonObject> out = new ArrayList<>(images.size());
    for (int from = 0; from < images.size(); from += registry.maxBatch()) {
      out.addAll(scoreBatch(images.subList(from, Math.min(images.size(), from + registry.maxBatch())), models));
    }
    return out;
  }

  private List<JsonObject> scoreBatch(List<byte[]> batch, List<ImageModel> models) throws Exception {
    List<JsonObject> answers = new ArrayList<>(batch.size());
    List<ImageInput> inputs = new ArrayList<>();
    List<JsonObject> pending = new ArrayList<>();
    Need need = Need.NONE;
    for (ImageModel m : models) {
      need = need.and(m.need());
    }
    JsonObject scales = new JsonObject();
    models.forEach(m -> scales.put(m.name(), Scales.toJson(registry.scale(m.name()))));
    try {
      for (byte[] bytes : batch) {
        long t0 = System.nanoTime();
        JsonObject answer = new JsonObject().put("sha256", Sha256.hex(bytes));
        ImageInput input = ImageInput.lazy(bytes, decoder, need.none() ? Need.ofInput(1, 1) : need);
        try {
          DecodedImage img = input.decoded();
          answer.put("width", img.fullWidth()).put("height", img.fullHeight())
              .put("timings_ms", new JsonObject().put("decode", ms(t0)));
          inputs.add(input);
          pending.add(answer);
        } catch (ImageDecodeException e) {
          input.close();
          answer.put("error", e.errorCode()).put("message", e.getMessage());
        }
        answers.add(answer);
      }
      if (inputs.isEmpty()) {
        return answers;
      }
      for (JsonObject a : pending) {
        a.put("scores", new JsonObject());
      }
      Set<String> devices = new LinkedHashSet<>();
      for (ImageModel model : models) {
        long t0 = System.nanoTime();
        List<Score> scores = model.score(inputs);
        double elapsed = ms(t0);
        devices.add(model.device());
        for (int i = 0; i < pending.size(); i++) {
          JsonObject a = pending.get(i);
          Score s = scores.get(i);
          a.getJsonObject("scores").put(model.name(), s.value());
          if (s.std() != null) {
            JsonObject std = a.getJsonObject("std");
            if (std == null) {
              a.put("std", std = new JsonObject());
            }
            std.put(model.name(), s.std());
          }
          a.getJsonObject("timings_ms").put(model.name(), elapsed);
        }
      }
      String device = String.join("+", devices);
      for (JsonObject a : pending) {
        a.put("device", device).put("batch", inputs.size()).put("scales", scales);
      }
      return answers;
    } finally {
      inputs.forEach(ImageInput::close);
    }
  }

  private static double ms(long t0) {
    return Math.round((System.nanoTime() - t0) / 10_000.0) / 100.0;
  }

}
