package io.iqa.server;

import java.util.concurrent.atomic.AtomicLong;

/**
 * A cap on the bytes held for requests in flight (bodies read and not yet answered), so that many
 * large uploads at once are refused ({@code 503 overloaded}) before the heap runs out. Each
 * request takes a {@link Reservation} that grows as its buffer grows and is closed when its answer
 * ends.
 */
public final class InflightBudget {

  private final long max;
  private final AtomicLong held = new AtomicLong();

  public InflightBudget(long maxBytes) {
    this.max = maxBytes;
  }

  public long max() {
    return max;
  }

  public long held() {
    return held.get();
  }

  public Reservation open() {
    return new Reservation();
  }

  /** One request's share. Thread-safe; {@link #close()} is idempotent. */
  public final class Reservation implements AutoCloseable {
    private long mine;
    private boolean closed;

    /** @return false (and takes nothing) when {@code bytes} more would exceed the budget */
    public synchronized boolean grow(long bytes) {
      if (closed) {
        return false;
      }
      while (true) {
        long now = held.get();
        if (now + bytes > max) {
          return false;
        }
        if (held.compareAndSet(now, now + bytes)) {
          mine += bytes;
          return true;
        }
      }
    }

    @Override
    public synchronized void close() {
      if (!closed) {
        closed = true;
        held.addAndGet(-mine);
        mine = 0;
      }
    }
  }
}
