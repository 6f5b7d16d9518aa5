package io.iqa.sidecar.worker;

import io.iqa.protocol.wire.WireEnum;
import io.iqa.protocol.wire.WireNames;
import io.vertx.core.json.JsonObject;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * One message between the sidecar's front and its GPU worker, over the worker's stdin and stdout: a
 * JSON header (its {@code type} and fields) and an optional binary payload (the image). On the
 * wire: the four bytes {@code IQAF}, header length, header (UTF-8 JSON), payload length, payload.
 * The marker lets a reader step over bytes that are not a frame (a native library printing to the
 * worker's stdout) and find the next one.
 *
 * <p>Front to worker: {@link Type#INIT} (the models to load; under a lease the time to stop by),
 * {@link Type#JOB} (an image and the models to run on it), {@link Type#DEADLINE} (a renewed lease's
 * new time to stop by: {@code stop_by_ns}), {@link Type#STOP} (finish the model calls running, hand
 * back the rest, close the models, exit). Worker to front: {@link Type#READY} (the models loaded),
 * {@link Type#FAILED} (they did not load), {@link Type#RESULT} (one model's score, error or
 * hand-back of one job), {@link Type#BATCH} (one model call, for the metrics), {@link Type#HEARTBEAT}
 * (every second, from a thread of its own: the worker is not stopped or hung), {@link Type#STOPPED}.
 */
public record Frame(Type type, JsonObject header, byte[] payload) {

  public enum Type implements WireEnum {
    INIT, JOB, STOP, DEADLINE, READY, FAILED, RESULT, BATCH, STOPPED, HEARTBEAT;

    static Type fromWire(String s) {
      Type t = WireNames.find(Type.class, s);
      if (t == null) {
        throw new IllegalArgumentException("unknown frame type '" + s + "'");
      }
      return t;
    }
  }

  private static final int MAX_HEADER = 16 << 20;
  /** "IQAF": where a frame starts. */
  static final int MARKER = 0x49514146;
  /** Stray bytes are reported in pieces of at most this many (a line ends one sooner). */
  private static final int STRAY_PIECE = 4096;
  private static final byte[] NONE = new byte[0];

  public static Frame of(Type type, JsonObject fields) {
    return new Frame(type, fields, NONE);
  }

  public static Frame of(Type type, JsonObject fields, byte[] payload) {
    return new Frame(type, fields, payload);
  }

  public void write(DataOutputStream out) throws IOException {
    byte[] head = header.copy().put("type", type.wireName()).encode().getBytes(StandardCharsets.UTF_8);
    out.writeInt(MARKER);
    out.writeInt(head.length);
    out.write(head);
    out.writeInt(payload.length);
    out.write(payload);
  }

  /**
   * @param stray told of the bytes before the next frame's marker that are not a frame, a line (or
   *     {@value #STRAY_PIECE} bytes) at a time
   * @return the next frame, or null at the end of the stream
   */
  public static Frame read(DataInputStream in, java.util.function.Consumer<String> stray) throws IOException {
    if (!skipToMarker(in, stray)) {
      return null;
    }
    int headLength = in.readInt();
    if (headLength < 0 || headLength > MAX_HEADER) {
      throw new IOException("bad frame header length " + headLength);
    }
    byte[] head = in.readNBytes(headLength);
    int payloadLength = in.readInt();
    if (payloadLength < 0) {
      throw new IOException("bad frame payload length " + payloadLength);
    }
    byte[] payload = in.readNBytes(payloadLength);
    if (head.length != headLength || payload.length != payloadLength) {
      throw new EOFException("stream ended inside a frame");
    }
    JsonObject json = new JsonObject(new String(head, StandardCharsets.UTF_8));
    return new Frame(Type.fromWire(json.getString("type")), json, payload);
  }

  /** @return true at a marker (consumed), false at the end of the stream */
  private static boolean skipToMarker(DataInputStream in, java.util.function.Consumer<String> stray)
      throws IOException {
    java.io.ByteArrayOutputStream skipped = new java.io.ByteArrayOutputStream();
    int window = 0;
    int have = 0;
    while (true) {
      int b = in.read();
      if (b < 0) {
        for (int i = have - 1; i >= 0; i--) {
          skipped.write(window >>> (8 * i) & 0xFF);
        }
        report(skipped, stray);
        return false;
      }
      if (have == 4) {
        int first = window >>> 24;
        skipped.write(first);
        if (first == '\n' || skipped.size() >= STRAY_PIECE) {
          report(skipped, stray);
        }
        have = 3;
      }
      window = window << 8 | b;
      have++;
      if (have == 4 && window == MARKER) {
        report(skipped, stray);
        return true;
      }
    }
  }

  private static void report(java.io.ByteArrayOutputStream skipped, java.util.function.Consumer<String> stray) {
    if (skipped.size() > 0) {
      String text = skipped.toString(StandardCharsets.UTF_8).strip();
      skipped.reset();
      if (!text.isEmpty()) {
        stray.accept(text);
      }
    }
  }
}
