package io.iqa.sidecar.worker;

import io.iqa.sidecar.image.ImageDecodeException;
import io.iqa.sidecar.image.ImageDecoder;
import io.iqa.sidecar.model.ImageInput;
import io.iqa.sidecar.model.ImageModel;
import io.iqa.sidecar.model.ModelRegistry;
import io.iqa.sidecar.samples.SampleImages;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import javax.imageio.ImageIO;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One full batch ({@code max_batch} images) through every model before the worker says READY:
 * runtimes allocate, compile and tune on their first call (ONNX Runtime's arenas, TensorFlow's
 * graph, cuDNN's algorithm search on a GPU), so without it the first real request is the slowest.
 */
final class WarmUp {

  private static final Logger LOG = LoggerFactory.getLogger(WarmUp.class);

  private WarmUp() {
  }

  /** Blocking. @return each model's warm-up time in ms */
  static Map<String, Long> run(ModelRegistry registry, ImageDecoder decoder) throws IOException,
      ImageDecodeException, Exception {
    ByteArrayOutputStream jpeg = new ByteArrayOutputStream();
    ImageIO.write(SampleImages.scene(512), "jpeg", jpeg);
    Map<String, Long> took = new LinkedHashMap<>();
    try (ImageInput input = ImageInput.of(decoder.decode(jpeg.toByteArray()), jpeg.toByteArray())) {
      for (ImageModel m : registry.models()) {
        long t0 = System.nanoTime();
        m.score(Collections.nCopies(registry.maxBatch(), input));
        took.put(m.name(), (System.nanoTime() - t0) / 1_000_000);
      }
    }
    LOG.info("warmed up with one batch of {} per model: {} ms", registry.maxBatch(), took);
    return took;
  }
}
