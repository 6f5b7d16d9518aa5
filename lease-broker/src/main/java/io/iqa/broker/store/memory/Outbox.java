package io.iqa.broker.store.memory;

import io.iqa.broker.store.LeaseEvent;
import io.iqa.broker.store.StoreListener;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/** Events and wake-ups collected inside one step of the memory store, delivered after its lock. */
final class Outbox {
  final List<LeaseEvent> events = new ArrayList<>();
  final Set<Integer> wakes = new LinkedHashSet<>();

  void dispatch(StoreListener listener) {
    if (listener == null) {
      return;
    }
    events.forEach(e -> listener.onEvent(e, true));
    wakes.forEach(listener::onWake);
  }
}
