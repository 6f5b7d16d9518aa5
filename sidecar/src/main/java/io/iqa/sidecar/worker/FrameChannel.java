package io.iqa.sidecar.worker;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

/**
 * The front's and the worker's end of their Unix socket: a reader thread hands each incoming
 * {@link Frame} to {@code onFrame}, a {@link FrameWriter} sends without blocking the caller. When
 * the stream ends or fails, {@code onEnd} runs once (with null at a clean end).
 */
public final class FrameChannel implements AutoCloseable {

  private final SocketChannel channel;
  private final FrameWriter writer;

  private FrameChannel(SocketChannel channel, String name, Consumer<Frame> onFrame, Consumer<IOException> onEnd) {
    this.channel = channel;
    this.writer = new FrameWriter(SocketStreams.output(channel), name + "-writer", onEnd);
    Thread reader = new Thread(() -> {
      DataInputStream in = new DataInputStream(new BufferedInputStream(SocketStreams.input(channel), 1 << 16));
      try {
        for (Frame f = Frame.read(in); f != null; f = Frame.read(in)) {
          onFrame.accept(f);
        }
        onEnd.accept(null);
      } catch (IOException e) {
        onEnd.accept(e);
      }
    }, name + "-reader");
    reader.setDaemon(true);
    reader.start();
  }

  /** The worker's side: connects to the front's socket. */
  public static FrameChannel connect(Path socket, Consumer<Frame> onFrame, Consumer<IOException> onEnd)
      throws IOException {
    return new FrameChannel(SocketChannel.open(UnixDomainSocketAddress.of(socket)), "worker", onFrame, onEnd);
  }

  /** The front's side: listens on {@code socket} for the one worker it starts. */
  public static Listener listen(Path socket) throws IOException {
    ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    server.bind(UnixDomainSocketAddress.of(socket));
    server.configureBlocking(false);
    return new Listener(server);
  }

  /** A socket the front listens on until its worker connects. */
  public static final class Listener implements AutoCloseable {
    private final ServerSocketChannel server;

    private Listener(ServerSocketChannel server) {
      this.server = server;
    }

    /**
     * Blocking: waits for the worker to connect, while {@code alive} holds, {@code timeoutMs} at most.
     * @throws IOException when the worker exited or did not connect in time
     */
    public FrameChannel accept(long timeoutMs, BooleanSupplier alive, Consumer<Frame> onFrame,
        Consumer<IOException> onEnd) throws IOException, InterruptedException {
      long deadline = System.nanoTime() + timeoutMs * 1_000_000;
      while (true) {
        SocketChannel ch = server.accept();
        if (ch != null) {
          ch.configureBlocking(true);
          return new FrameChannel(ch, "front", onFrame, onEnd);
        }
        if (!alive.getAsBoolean()) {
          throw new IOException("the worker exited before it connected");
        }
        if (System.nanoTime() > deadline) {
          throw new IOException("the worker did not connect within " + timeoutMs + " ms");
        }
        Thread.sleep(5);
      }
    }

    @Override
    public void close() throws IOException {
      server.close();
    }
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
      channel.close();
    } catch (IOException e) {
      // closing anyway
    }
  }
}
