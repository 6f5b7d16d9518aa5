package io.iqa.broker.store;

import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * The time a lease store decides by. The memory store runs on {@link #SYSTEM} (the host's
 * monotonic clock for expiry and ageing, the wall clock only to show times); the Redis store on
 * Redis's own clock, so that every broker sharing it agrees. A test gives both stores one
 * {@link #manual} clock and moves it, so the same operations must give the same answers.
 */
public record StoreClock(LongSupplier monotonic, LongSupplier wall) {

  public static final StoreClock SYSTEM = new StoreClock(() -> System.nanoTime() / 1_000_000L, System::currentTimeMillis);

  /** @return milliseconds on a clock that never goes back */
  public long monotonicMs() {
    return monotonic.getAsLong();
  }

  /** @return the wall-clock time (epoch ms) now */
  public long wallMs() {
    return wall.getAsLong();
  }

  /** @return a clock that reads {@code ms} (epoch ms) for both */
  public static StoreClock manual(AtomicLong ms) {
    return new StoreClock(ms::get, ms::get);
  }
}
