package io.iqa.sidecar.worker;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.vertx.core.json.JsonObject;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Frames on the worker's stdout share it with anything a native library prints there: the reader
 * steps over what is not a frame, says what it was, and reads every frame intact.
 */
class FrameTest {

  private static void text(ByteArrayOutputStream out, String s) {
    out.writeBytes(s.getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void framesSurviveWhatANativeLibraryPrintsBetweenThem() throws Exception {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    DataOutputStream out = new DataOutputStream(bytes);
    text(bytes, "[ INFO:0@0.012] global registry_parallel.impl.hpp (96) ...\n");
    Frame.of(Frame.Type.READY, new JsonObject().put("models", 2)).write(out);
    text(bytes, "IQA"); // almost a marker
    text(bytes, "OpenBLAS Warning\n");
    byte[] image = {(byte) 0xFF, (byte) 0xD8, 'I', 'Q', 'A', 'F', 0, 1};
    Frame.of(Frame.Type.RESULT, new JsonObject().put("job", 7), image).write(out);
    text(bytes, "tail without newline");

    List<String> stray = new ArrayList<>();
    DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes.toByteArray()));
    Frame first = Frame.read(in, stray::add);
    Frame second = Frame.read(in, stray::add);
    assertNull(Frame.read(in, stray::add), "the end of the stream");

    assertEquals(Frame.Type.READY, first.type());
    assertEquals(2, first.header().getInteger("models"));
    assertEquals(Frame.Type.RESULT, second.type());
    assertEquals(7, second.header().getInteger("job"));
    assertArrayEquals(image, second.payload(), "a payload holding the marker's bytes is read by its length");
    assertEquals(List.of("[ INFO:0@0.012] global registry_parallel.impl.hpp (96) ...", "IQAOpenBLAS Warning",
        "tail without newline"), stray);
  }

  @Test
  void aStreamThatEndsInsideAFrameIsAnErrorNotAShortFrame() throws Exception {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    Frame.of(Frame.Type.JOB, new JsonObject(), new byte[100]).write(new DataOutputStream(bytes));
    byte[] cut = java.util.Arrays.copyOf(bytes.toByteArray(), bytes.size() - 10);
    DataInputStream in = new DataInputStream(new ByteArrayInputStream(cut));
    assertThrows(EOFException.class, () -> Frame.read(in, s -> { }));
  }
}
