package io.iqa.broker.store.memory;

import io.iqa.broker.store.AcquireRequest;
import io.iqa.broker.store.Waiter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The memory store's waiting requests, by waiter id, and their order: highest effective rank first
 * (priority plus one level per {@code priority_aging} waited), then first come, first served. A
 * request is first in line for a device when no waiter that could use that device comes before it.
 */
final class MemoryWaitQueue {

  /** A waiting request; {@code seq} breaks ties between requests queued in the same millisecond. */
  record Queued(String waiterId, AcquireRequest request, long enqueuedMono, long deadlineMono, long seq) {
  }

  private final Map<String, Queued> queue = new LinkedHashMap<>();
  private final MemoryCapacity capacity;
  private final long agingMs;
  private long nextSeq = 1;

  MemoryWaitQueue(MemoryCapacity capacity, long agingMs) {
    this.capacity = capacity;
    this.agingMs = agingMs;
  }

  Queued get(String waiterId) {
    return waiterId == null ? null : queue.get(waiterId);
  }

  Queued remove(String waiterId) {
    return queue.remove(waiterId);
  }

  void add(String waiterId, AcquireRequest request, long now) {
    queue.put(waiterId, new Queued(waiterId, request, now, now + request.waitMs(), nextSeq++));
  }

  /** @return how {@code request} would stand if it were queued now (after everyone queued) */
  static Queued probe(String waiterId, AcquireRequest request, long now) {
    return new Queued(waiterId, request, now, now + request.waitMs(), Long.MAX_VALUE);
  }

  /** @return how many waiters that could use {@code gpu} come before {@code me} */
  int countAhead(int gpu, Queued me, long now) {
    int ahead = 0;
    Comparator<Queued> order = order(now);
    for (Queued q : queue.values()) {
      if (q != me && capacity.wants(q.request(), gpu) && order.compare(q, me) < 0) {
        ahead++;
      }
    }
    return ahead;
  }

  boolean anyWants(int gpu) {
    return queue.values().stream().anyMatch(q -> capacity.wants(q.request(), gpu));
  }

  /** Drops the waiters whose wait_s ran out; the devices they wanted are woken (the next may go). */
  void dropAbandoned(long now, Set<Integer> wakes) {
    queue.values().removeIf(q -> {
      boolean gone = q.deadlineMono() <= now;
      if (gone) {
        wakes.addAll(capacity.candidates(q.request()));
      }
      return gone;
    });
  }

  /** @return the waiters still within their wait, in queue order */
  List<Waiter> waiting(long now) {
    List<Queued> ordered = new ArrayList<>(queue.values());
    ordered.sort(order(now));
    List<Waiter> waiting = new ArrayList<>();
    for (Queued q : ordered) {
      if (q.deadlineMono() > now) {
        AcquireRequest r = q.request();
        waiting.add(new Waiter(r.owner(), r.purpose(), r.gpu(), r.vramMb(), r.priority(), now - q.enqueuedMono()));
      }
    }
    return waiting;
  }

  private Comparator<Queued> order(long now) {
    Comparator<Queued> byRank = Comparator.comparingLong(
        q -> -(q.request().priority().rank() + (agingMs > 0 ? (now - q.enqueuedMono()) / agingMs : 0)));
    return byRank.thenComparingLong(Queued::enqueuedMono).thenComparingLong(Queued::seq);
  }
}
