package io.iqa.broker.store;

import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * The time a lease store decides by. The memory store runs on {@link #SYSTEM} (the host's
 * monotonic clock for expiry and ageing, the wall clock only to show times); the Redis store on
 * Redis's own clock, so that every broker sharing it agrees. A test gives both stores one
 * {@link #manual} clock and moves it, so the same operations must give the same answers.
 */
public interface StoreClock {

  /** @return milliseconds on a clock that never goes back */
  long monotonicMs();

  /** @return the wall-clock time (epoch ms) now */
  long wallMs();

  StoreClock SYSTEM = of(() -> System.nanoTime() / 1_000_000L, System::currentTimeMillis);

  /** @return a clock that reads {@code ms} (epoch ms) for both */
  static StoreClock manual(AtomicLong ms) {
    return of(ms::get, ms::get);
  }

  /** @return the clock that reads {@code monotonic} and {@code wall} */
  static StoreClock of(LongSupplier monotonic, LongSupplier wall) {
    return new StoreClock() {
      @Override
      public long monotonicMs() {
        return monotonic.getAsLong();
      }

      @Override
      public long wallMs() {
        return wall.getAsLong();
      }
    };
  }
}
