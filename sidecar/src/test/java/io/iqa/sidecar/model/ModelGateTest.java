package io.iqa.sidecar.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtSession;
import io.iqa.sidecar.model.builtin.TechnicalModels;
import io.iqa.sidecar.model.onnx.OnnxModel;
import java.awt.image.BufferedImage;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Round 2: {@code /shutdown} during the worker's warm-up closed ONNX Runtime sessions under a
 * running {@code OrtSession.run}: SIGSEGV, exit 134, an hs_err file. A model now closes only once
 * its running calls have ended.
 */
class ModelGateTest {

  @Test
  void aCloseWaitsForTheRunningCallAndLaterCallsFail() throws Exception {
    ModelGate gate = new ModelGate("m");
    ModelGate.Call running = gate.enter();
    CountDownLatch closed = new CountDownLatch(1);
    Thread closer = new Thread(() -> gate.closeWhenIdle(closed::countDown));
    closer.start();
    assertFalse(closed.await(200, TimeUnit.MILLISECONDS), "closed under a running call");
    running.close();
    assertTrue(closed.await(5, TimeUnit.SECONDS));
    assertThrows(IllegalStateException.class, gate::enter);
    AtomicInteger again = new AtomicInteger();
    gate.closeWhenIdle(again::incrementAndGet);
    assertEquals(0, again.get(), "freed once");
  }

  /** In a JVM of its own (a crash must not take the test's down): close 150 sessions under running calls. */
  @Test
  void closingOnnxSessionsUnderRunningCallsNeverCrashesTheJvm(@TempDir Path dir) throws Exception {
    Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"), CloseUnderRun.class.getName(), "150")
        .directory(dir.toFile()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(180, TimeUnit.SECONDS), "did not finish: " + out);
    assertEquals(0, p.exitValue(), out);
    try (var files = Files.list(dir)) {
      List<Path> crashes = files.filter(f -> f.getFileName().toString().startsWith("hs_err")).toList();
      assertTrue(crashes.isEmpty(), "the JVM crashed: " + crashes + "\n" + out);
    }
    assertTrue(out.contains("150 closes under running calls"), out);
  }

  /** The child: a thread scores batches in a loop while the main thread closes the model under it. */
  public static final class CloseUnderRun {
    public static void main(String[] args) throws Exception {
      int rounds = Integer.parseInt(args[0]);
      List<ImageInput> batch = new ArrayList<>();
      for (int i = 0; i < 8; i++) {
        batch.add(ImageInput.of(new BufferedImage(640, 480, BufferedImage.TYPE_INT_RGB)));
      }
      int underCall = 0;
      for (int r = 0; r < rounds; r++) {
        OnnxModel model = new OnnxModel(io.iqa.sidecar.model.onnx.OnnxDevice.environment(), TechnicalModels.spec("tech_sharpness"),
            new OrtSession.SessionOptions());
        AtomicInteger calls = new AtomicInteger();
        Thread scorer = new Thread(() -> {
          try {
            while (true) {
              model.score(batch);
              calls.incrementAndGet();
            }
          } catch (IllegalStateException closed) {
            // the model was closed: what a call after close gets
          } catch (Exception e) {
            throw new RuntimeException(e);
          }
        });
        scorer.start();
        while (calls.get() == 0) {
          Thread.onSpinWait();
        }
        Thread.sleep(r % 7);
        model.close();
        underCall++;
        scorer.join();
      }
      System.out.println(underCall + " closes under running calls");
    }
  }
}
