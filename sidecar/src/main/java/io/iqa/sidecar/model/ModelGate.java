package io.iqa.sidecar.model;

import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * Keeps a model's native resources open while a call runs in them: every call holds the gate
 * ({@link #enter}, released by closing what it returns), and {@link #closeWhenIdle} waits for the
 * running calls to end before it frees anything; a call after that fails at once. Closing an ONNX
 * Runtime session or a TensorFlow bundle under a running call crashes the JVM (SIGSEGV), which a
 * shutdown during warm-up once did.
 */
public final class ModelGate {

  /** A call in progress; closing it lets a waiting close go on. */
  public interface Call extends AutoCloseable {
    @Override
    void close();
  }

  private final String name;
  private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
  private volatile boolean closed;

  public ModelGate(String name) {
    this.name = name;
  }

  /** @return the call's hold on the model @throws IllegalStateException once the model is closed */
  public Call enter() {
    lock.readLock().lock();
    if (closed) {
      lock.readLock().unlock();
      throw new IllegalStateException("model " + name + " is closed");
    }
    return () -> lock.readLock().unlock();
  }

  /** Runs {@code free} once, after every running call has ended; later calls fail. */
  public void closeWhenIdle(Runnable free) {
    lock.writeLock().lock();
    try {
      if (closed) {
        return;
      }
      closed = true;
      free.run();
    } finally {
      lock.writeLock().unlock();
    }
  }

  public boolean closed() {
    return closed;
  }
}
