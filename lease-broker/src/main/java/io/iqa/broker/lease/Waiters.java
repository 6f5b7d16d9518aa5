package io.iqa.broker.lease;

import io.iqa.broker.store.AcquireResult;
import io.iqa.broker.store.AcquireRequest;
import io.iqa.broker.store.LeaseStore;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Long-poll waiters of this broker. A waiter retries its acquire when the store says its GPU may
 * have room ({@link #wake}), or when a blocking lease is due to expire or turn stale; there is no
 * polling loop. All methods run on the broker's event loop (or in a simulation, on its one thread).
 */
public final class Waiters {

  private static final Logger LOG = LoggerFactory.getLogger(Waiters.class);

  private final Timers timers;
  private final LeaseStore store;
  private final Map<String, Wait> waits = new LinkedHashMap<>();

  /**
   * What a wait came to, and when the store step that decided it began ({@link Timers#nanoTime}): a grant
   * happened after that moment, so the time from the request's arrival to it never overstates how
   * long the broker held the request ({@code queued_ms}).
   */
  public record Attempt(AcquireResult result, long startedNanos) {
  }

  public Waiters(Timers timers, LeaseStore store) {
    this.timers = timers;
    this.store = store;
  }

  /**
   * Waits for a request already queued under {@code waiterId} (its first attempt answered
   * {@code first}). Completes with the grant, or with the last busy answer when {@code waitMs} runs out.
   */
  public Future<Attempt> await(String waiterId, AcquireRequest request, long waitMs, AcquireResult.Busy first) {
    Wait wait = new Wait(waiterId, request, first);
    waits.put(waiterId, wait);
    wait.deadlineTimer = timers.set(Math.max(1, waitMs), () -> wait.finish(wait.lastBusy(), true));
    wait.scheduleRetry(first.retryInMs());
    // A wake-up that arrived between the first attempt and this registration found nobody to
    // wake; one more attempt now closes that window (an async store makes it real).
    wait.retry();
    return wait.promise.future();
  }

  /** The client went away: stop waiting; a grant that races with this is released at once. */
  public void abandon(String waiterId) {
    Wait wait = waits.get(waiterId);
    if (wait != null) {
      wait.finish(null, true);
    }
  }

  /** Capacity or queue order on {@code gpu} changed: let every waiter that wants it try again. */
  public void wake(int gpu) {
    if (waits.isEmpty()) {
      return;
    }
    List<Wait> wanting = new ArrayList<>();
    for (Wait w : waits.values()) {
      if (w.request.gpu() == null || w.request.gpu() == gpu) {
        wanting.add(w);
      }
    }
    wanting.forEach(Wait::retry);
  }

  /** The ids of the requests this broker is waiting for. */
  public List<String> ids() {
    return List.copyOf(waits.keySet());
  }

  /** Ends every wait with its last busy answer (broker shutting down). */
  public void closeAll() {
    new ArrayList<>(waits.values()).forEach(w -> w.finish(w.lastBusy(), true));
  }

  private final class Wait {
    final String id;
    final AcquireRequest request;
    final Promise<Attempt> promise = Promise.promise();
    AcquireResult.Busy lastBusy;
    long deadlineTimer = -1;
    long retryTimer = -1;
    boolean inFlight;
    boolean again;
    boolean done;

    Wait(String id, AcquireRequest request, AcquireResult.Busy first) {
      this.id = id;
      this.request = request;
      this.lastBusy = first;
    }

    void retry() {
      if (done) {
        return;
      }
      if (inFlight) {
        again = true;
        return;
      }
      inFlight = true;
      long started = timers.nanoTime();
      store.acquire(request, id).onComplete(ar -> {
        inFlight = false;
        if (ar.failed()) {
          if (!done) {
            finishFailed(ar.cause());
          }
          return;
        }
        AcquireResult result = ar.result();
        if (result instanceof AcquireResult.Granted granted) {
          if (done) {
            // Timed out or abandoned while this attempt was in flight: nobody will hold it.
            releaseOrphan(granted);
          } else {
            finish(new Attempt(granted, started), false);
          }
          return;
        }
        lastBusy = (AcquireResult.Busy) result;
        scheduleRetry(lastBusy.retryInMs());
        if (again) {
          again = false;
          retry();
        }
      });
    }

    void scheduleRetry(long inMs) {
      if (retryTimer >= 0) {
        timers.cancel(retryTimer);
        retryTimer = -1;
      }
      if (inMs >= 0 && !done) {
        retryTimer = timers.set(Math.max(1, inMs), () -> {
          retryTimer = -1;
          retry();
        });
      }
    }

    Attempt lastBusy() {
      return new Attempt(lastBusy, timers.nanoTime());
    }

    void finish(Attempt result, boolean leaveQueue) {
      if (done) {
        return;
      }
      done = true;
      cleanup();
      if (leaveQueue) {
        store.cancelWait(id);
      }
      if (result != null) {
        promise.tryComplete(result);
      } else {
        promise.tryFail("abandoned");
      }
    }

    void finishFailed(Throwable cause) {
      done = true;
      cleanup();
      store.cancelWait(id);
      promise.tryFail(cause);
    }

    void cleanup() {
      waits.remove(id);
      timers.cancel(deadlineTimer);
      if (retryTimer >= 0) {
        timers.cancel(retryTimer);
      }
    }

    void releaseOrphan(AcquireResult.Granted granted) {
      LOG.info("lease {} was granted to a waiter of '{}' that had already gone; releasing it",
          granted.lease().leaseId(), request.owner());
      store.release(request.tokenHash(), "broker", "its waiter had gone");
    }
  }
}
