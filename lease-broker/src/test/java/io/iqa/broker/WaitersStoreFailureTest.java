package io.iqa.broker;

import io.iqa.broker.gpu.GpuDevice;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.broker.lease.Timers;
import io.iqa.broker.lease.Waiters;
import io.iqa.broker.store.AcquireRequest;
import io.iqa.broker.store.AcquireResult;
import io.iqa.broker.store.BytesJournalFile;
import io.iqa.broker.store.LeaseEvent;
import io.iqa.broker.store.RestoreRule;
import io.iqa.broker.store.StoreClock;
import io.iqa.broker.store.StoreListener;
import io.iqa.broker.store.StoreSettings;
import io.iqa.broker.store.memory.MemoryLeaseStore;
import io.iqa.protocol.wire.Priority;
import io.vertx.core.Future;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * The memory store and the broker's waiters when a grant cannot be recorded (a full disk): the
 * waiter whose grant failed gets the error, and the waiters behind it move up at once.
 */
class WaitersStoreFailureTest {

  /** A state file in memory that refuses the next {@code grantsRefused} grant records as a full disk does. */
  private static final class FillingFile extends BytesJournalFile {
    int grantsRefused;

    FillingFile() {
      super("memory", new byte[0]);
    }

    @Override
    public void append(byte[] more, boolean sync) throws IOException {
      if (grantsRefused > 0 && new String(more, java.nio.charset.StandardCharsets.UTF_8).contains("\"op\":\"grant\"")) {
        grantsRefused--;
        appendPart(more, more.length / 2); // a part reached the disk: the store cuts it back
        throw new IOException("No space left on device");
      }
      appendPart(more, more.length);
    }
  }

  /** Timers that never fire: every retry in this test must come from a wake-up. */
  private static final Timers NEVER = new Timers() {
    @Override
    public long set(long delayMs, Runnable task) {
      return 1;
    }

    @Override
    public void cancel(long id) {
    }
  };

  private static AcquireRequest ask(String owner, Priority priority, long waitMs) {
    return new AcquireRequest(owner, "test", "token-" + owner, 60_000, 0, null, priority, null, null, "test", waitMs,
        false, false);
  }

  /**
   * Found by the simulator (seed 18718 of 100,000): the store took the waiter out of its queue
   * before the grant that failed, so the end of that wait woke nobody, and the waiter behind it sat
   * on a free GPU until something else happened.
   */
  @Test
  void aGrantThatCannotBeRecordedKeepsTheQueueAndTheWaitersBehindItAreWoken() throws Exception {
    FillingFile file = new FillingFile();
    AtomicLong now = new AtomicLong(1_800_000_000_000L);
    MemoryLeaseStore store = new MemoryLeaseStore(new StoreSettings(900_000, 30_000, 100, 3_600_000, 1000, 0, false,
        null, false), StoreClock.manual(now), file, RestoreRule.FULL_TTL);
    Waiters[] waiters = new Waiters[1];
    store.start(List.of(new GpuDevice(0, 0)), new StoreListener() {
      @Override
      public void onEvent(LeaseEvent event, boolean local) {
      }

      @Override
      public void onWake(int gpu) {
        waiters[0].wake(gpu);
      }
    }).toCompletionStage().toCompletableFuture().get();
    waiters[0] = new Waiters(NEVER, store);

    AcquireResult held = result(store.acquire(ask("holder", Priority.NORMAL, 0), null));
    assertTrue(held instanceof AcquireResult.Granted, held.toString());
    // The low-priority waiter registers first (so a wake-up tries it first), the high one is first in line.
    AcquireRequest low = ask("low", Priority.LOW, 60_000);
    AcquireRequest high = ask("high", Priority.HIGH, 60_000);
    Future<Waiters.Attempt> lowWait = waiters[0].await("low", low, 60_000,
        (AcquireResult.Busy) result(store.acquire(low, "low")));
    Future<Waiters.Attempt> highWait = waiters[0].await("high", high, 60_000,
        (AcquireResult.Busy) result(store.acquire(high, "high")));

    // The release is recorded; the grant to "high" that it wakes is not (the disk was full for a moment).
    file.grantsRefused = 1;
    store.release("token-holder", "holder", "done").toCompletionStage().toCompletableFuture().get();

    assertTrue(highWait.failed(), "the grant that could not be recorded is an error to its waiter: " + highWait);
    assertTrue(highWait.cause().getMessage().contains("nothing was changed"), highWait.cause().getMessage());
    assertTrue(lowWait.succeeded() && lowWait.result().result() instanceof AcquireResult.Granted,
        "the waiter behind it is granted the free GPU at once, not at its next timer: " + lowWait);
    assertEquals("low", ((AcquireResult.Granted) lowWait.result().result()).lease().owner());
  }

  private static AcquireResult result(Future<AcquireResult> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get();
  }
}
