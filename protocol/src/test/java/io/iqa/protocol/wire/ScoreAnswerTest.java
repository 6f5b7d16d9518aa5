package io.iqa.protocol.wire;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.iqa.protocol.ScoreScale;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ScoreAnswerTest {

  @Test
  void anAnswerReadsBackAsItWasWrittenAndLeavesOutWhatItDoesNotHave() {
    Map<String, ScoreScale> scales = new LinkedHashMap<>();
    scales.put("brisque", new ScoreScale(0.0, 100.0, false));
    scales.put("onnx_plain", ScoreScale.UNKNOWN);
    ScoreAnswer a = new ScoreAnswer.Builder("abc").size(4000, 3000).timing("decode", 12.5)
        .score("brisque", 21.25, null).score("nima", 5.5, 1.25).timing("nima", 30.0).ran("cpu", 2, scales)
        .build().withPath("a.jpg");
    Map<String, Object> wire = a.toMap();
    assertEquals(List.of("path", "sha256", "width", "height", "scores", "std", "device", "batch", "timings_ms",
        "scales"), List.copyOf(wire.keySet()), "no cached, error or message: they were not set");
    assertEquals(a, ScoreAnswer.fromMap(wire));
    assertEquals(Map.of("nima", 1.25), a.std());
    assertEquals(Map.of("range", List.of(0.0, 100.0), "higher_is_better", false),
        ((Map<?, ?>) wire.get("scales")).get("brisque"));
  }

  @Test
  void readsWhatOtherWritersSendIntegersUnknownFieldsAndAFailedImage() {
    Map<String, Object> wire = new LinkedHashMap<>();
    wire.put("sha256", "abc");
    wire.put("scores", Map.of("tech_noise", 28));
    wire.put("cached", true);
    wire.put("from_a_newer_sidecar", "ignored");
    ScoreAnswer a = ScoreAnswer.fromMap(wire);
    assertEquals(28.0, a.scores().get("tech_noise"));
    assertEquals(Boolean.TRUE, a.cached());
    ScoreAnswer failed = ScoreAnswer.fromMap(Map.of("path", "x.txt", "error", "bad_image", "message", "not an image"));
    assertEquals("bad_image", failed.error());
    assertNull(failed.scores());
    assertFalse(failed.toMap().containsKey("scores"));
  }

  @Test
  void aScaleWithoutARangeOrDirectionIsUnknownAndHigherIsBetter() {
    assertEquals(ScoreScale.UNKNOWN, ScoreScale.fromMap(Map.of()));
    Map<String, Object> noRange = new LinkedHashMap<>();
    noRange.put("range", null);
    noRange.put("higher_is_better", false);
    assertEquals(new ScoreScale(null, null, false), ScoreScale.fromMap(noRange));
    assertEquals(new ScoreScale(1.0, 10.0, true), ScoreScale.fromMap(Map.of("range", List.of(1, 10))));
  }
}
