package io.iqa.sidecar.worker;

import java.io.BufferedOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.function.Consumer;

/**
 * Sends frames from any thread without blocking it: they queue, and one writer thread writes them
 * in order. A write error is reported once to {@code onError}; later frames are dropped.
 */
final class FrameWriter {

  private static final Frame END = Frame.of(Frame.Type.STOPPED, new io.vertx.core.json.JsonObject());

  private final BlockingQueue<Frame> queue = new LinkedBlockingQueue<>();
  private final Thread thread;
  private volatile boolean failed;

  FrameWriter(OutputStream out, String name, Consumer<IOException> onError) {
    DataOutputStream data = new DataOutputStream(new BufferedOutputStream(out, 1 << 16));
    thread = new Thread(() -> {
      try {
        while (true) {
          Frame f = queue.take();
          if (f == END) {
            data.flush();
            return;
          }
          f.write(data);
          if (queue.isEmpty()) {
            data.flush();
          }
        }
      } catch (IOException e) {
        failed = true;
        onError.accept(e);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }, name);
    thread.setDaemon(true);
    thread.start();
  }

  void send(Frame frame) {
    if (!failed) {
      queue.add(frame);
    }
  }

  /** Writes what is queued, then stops; waits up to {@code millis} for that. */
  void finish(long millis) {
    queue.add(END);
    try {
      thread.join(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
