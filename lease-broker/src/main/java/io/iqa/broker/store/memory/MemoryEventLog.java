package io.iqa.broker.store.memory;

import io.iqa.broker.store.LeaseEvent;
import io.iqa.broker.store.LeaseEventType;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.List;

/** The memory store's recent events, numbered in order ({@code seq}), the newest {@code events_max} kept. */
final class MemoryEventLog {

  private final ArrayDeque<LeaseEvent> events = new ArrayDeque<>();
  private final int max;
  /** The next event's seq: kept in the state file so numbering goes on across restarts. */
  long nextSeq = 1;

  MemoryEventLog(int max) {
    this.max = max;
  }

  LeaseEvent add(Instant time, LeaseEventType type, long leaseId, int gpu, String owner, String purpose, String by,
      String reason, Boolean immediate, Instant handoffAt) {
    LeaseEvent e = new LeaseEvent(nextSeq++, time, type, leaseId, gpu, owner, purpose, by, reason, immediate,
        handoffAt);
    events.addLast(e);
    while (events.size() > max) {
      events.removeFirst();
    }
    return e;
  }

  List<LeaseEvent> all() {
    return List.copyOf(events);
  }
}
