package io.iqa.sidecar.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.protocol.ScoreScale;
import io.iqa.sidecar.image.Need;
import io.iqa.sidecar.model.ImageInput;
import io.iqa.sidecar.model.ImageModel;
import io.iqa.sidecar.model.Score;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The batcher when a model fails on one image of a batch, or answers with the wrong number of
 * scores (round 2, read in the code: the batch's other promises never completed, or all failed).
 */
class BatcherTest {

  /** Scores an image by its width; throws on a batch holding a 1-pixel-wide image; drops a score for width 7. */
  private static final class Picky implements ImageModel {
    final List<Integer> calls = new ArrayList<>();

    @Override public Loaded loaded() { return new Loaded("picky", "test", "cpu", null, 0, "any"); }
    @Override public Need need() { return Need.NONE; }
    @Override public ScoreScale scale() { return new ScoreScale(0.0, 100.0, true); }
    @Override public void close() { }

    @Override
    public List<Score> score(List<ImageInput> images) throws Exception {
      calls.add(images.size());
      List<Score> out = new ArrayList<>();
      for (ImageInput in : images) {
        int w = in.decoded().width();
        if (w == 1) {
          throw new IllegalArgumentException("cannot take a 1-pixel-wide image");
        }
        if (w != 7) {
          out.add(new Score(w, null));
        }
      }
      return out;
    }
  }

  @Test
  void anImageTheModelCannotTakeFailsAloneAndTheRestOfItsBatchIsScored() throws Exception {
    Vertx vertx = Vertx.vertx();
    try {
      Picky model = new Picky();
      Batcher b = new Batcher(vertx, model, 8, 50, 64, (m, n, ns) -> { });
      List<Future<Batcher.Scored>> results = new ArrayList<>();
      int[] widths = {10, 1, 20, 7, 30};
      vertx.runOnContext(v -> {
        for (int w : widths) {
          results.add(b.submit(ImageInput.of(new BufferedImage(w, 4, BufferedImage.TYPE_INT_RGB))));
        }
      });
      org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10))
          .until(() -> results.size() == widths.length && results.stream().allMatch(Future::isComplete));
      assertEquals(10.0, results.get(0).result().score().value());
      assertTrue(results.get(1).failed() && results.get(1).cause().getMessage().contains("1-pixel"), "" + results.get(1));
      assertEquals(20.0, results.get(2).result().score().value());
      assertTrue(results.get(3).failed() && results.get(3).cause().getMessage().contains("0 scores for 1 image"),
          "a missing score is that image's failure: " + results.get(3).cause());
      assertEquals(30.0, results.get(4).result().score().value());
      assertEquals(List.of(5, 1, 1, 1, 1, 1), model.calls, "the batch, then each image alone");
      assertTrue(results.get(0).result().waitNanos() >= 0, "each score says how long it waited for its batch");
      assertEquals(0, b.outstanding());
    } finally {
      vertx.close().await(10, TimeUnit.SECONDS);
    }
  }
}
