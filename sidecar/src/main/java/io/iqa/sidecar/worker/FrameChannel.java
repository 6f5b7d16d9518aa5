package io.iqa.sidecar.worker;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.util.function.Consumer;

/**
 * The front's and the worker's end of the worker's standard streams: the front writes frames to
 * the worker's stdin and reads them from its stdout (no socket, no temp folder, nothing to poll).
 * A reader thread hands each incoming {@link Frame} to {@code onFrame}, a {@link FrameWriter} sends
 * without blocking the caller. When the stream ends or fails, {@code onEnd} runs once (with null at
 * a clean end). Bytes between frames that are not one (a native library printing to the worker's
 * stdout) go to {@code onStray} and the reader carries on at the next frame.
 */
public final class FrameChannel implements AutoCloseable {

  private final InputStream in;
  private final OutputStream out;
  private final FrameWriter writer;

  private FrameChannel(InputStream in, OutputStream out, String name, Consumer<Frame> onFrame,
      Consumer<String> onStray, Consumer<IOException> onEnd) {
    this.in = in;
    this.out = out;
    this.writer = new FrameWriter(out, name + "-writer", onEnd);
    Thread reader = new Thread(() -> {
      DataInputStream data = new DataInputStream(new BufferedInputStream(in, 1 << 16));
      try {
        for (Frame f = Frame.read(data, onStray); f != null; f = Frame.read(data, onStray)) {
          onFrame.accept(f);
        }
        onEnd.accept(null);
      } catch (IOException e) {
        onEnd.accept(e);
      } catch (RuntimeException e) {
        onEnd.accept(new IOException("unreadable frame (" + e.getMessage() + ")", e));
      }
    }, name + "-reader");
    reader.setDaemon(true);
    reader.start();
  }

  /**
   * The worker's side: frames in on stdin, out on stdout. From here on {@code System.out} prints to
   * stderr, so no Java code can write into the frames.
   */
  public static FrameChannel ofStandardStreams(Consumer<Frame> onFrame, Consumer<String> onStray,
      Consumer<IOException> onEnd) {
    OutputStream stdout = new FileOutputStream(FileDescriptor.out);
    System.setOut(new PrintStream(new FileOutputStream(FileDescriptor.err), true));
    return new FrameChannel(new java.io.FileInputStream(FileDescriptor.in), stdout, "worker", onFrame, onStray, onEnd);
  }

  /** The front's side: the worker {@code process}'s stdout and stdin. */
  public static FrameChannel of(Process process, Consumer<Frame> onFrame, Consumer<String> onStray,
      Consumer<IOException> onEnd) {
    return new FrameChannel(process.getInputStream(), process.getOutputStream(), "front", onFrame, onStray, onEnd);
  }

  public void send(Frame f) {
    writer.send(f);
  }

  /** Writes what is queued (up to {@code millis}), then stops writing. */
  public void finish(long millis) {
    writer.finish(millis);
  }

  @Override
  public void close() {
    try {
      out.close();
    } catch (IOException e) {
      // closing anyway
    }
    try {
      in.close();
    } catch (IOException e) {
      // closing anyway
    }
  }
}
