package io.iqa.simulator;

import io.iqa.broker.lease.Timers;
import java.util.HashSet;
import java.util.Set;
import java.util.function.LongSupplier;

/**
 * The broker's timers on the virtual clock: a timer fires in {@code host}'s process (after a pause
 * of it, never in a later incarnation) unless cancelled first; {@code clock} is the broker's own
 * monotonic clock, which a restart sets anew.
 */
final class SimTimers implements Timers {

  private final Host host;
  private final LongSupplier clock;
  private final Set<Long> cancelled = new HashSet<>();
  private long nextTimer;

  SimTimers(Host host, LongSupplier clock) {
    this.host = host;
    this.clock = clock;
  }

  @Override
  public long set(long delayMs, Runnable task) {
    long id = nextTimer++;
    host.after(delayMs * 1_000_000L, () -> {
      if (!cancelled.remove(id)) {
        task.run();
      }
    });
    return id;
  }

  @Override
  public void cancel(long id) {
    cancelled.add(id);
  }

  @Override
  public long nanoTime() {
    return clock.getAsLong();
  }
}
