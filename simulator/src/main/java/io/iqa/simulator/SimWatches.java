package io.iqa.simulator;

import io.iqa.broker.store.LeaseEvent;
import io.iqa.broker.store.LeaseEventType;
import io.iqa.simulator.SimWire.WatchMsg;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The {@link SimBroker}'s watch channels, as the broker's WatchApi keeps them: each lease's
 * watchers hear its revocation, yield request and end over the network, and every stream breaks
 * when the broker goes away.
 */
final class SimWatches {

  private record Watcher(Host client, Consumer<WatchMsg> sink) {
  }

  private final Net net;
  private final Host host;
  private final Map<Long, List<Watcher>> watches = new HashMap<>();

  SimWatches(Net net, Host host) {
    this.net = net;
    this.host = host;
  }

  void add(long leaseId, Host client, Consumer<WatchMsg> sink) {
    watches.computeIfAbsent(leaseId, id -> new ArrayList<>()).add(new Watcher(client, sink));
  }

  /** A store event: tells the lease's watchers, and ends their streams once it holds nothing. */
  void tell(LeaseEvent e) {
    List<Watcher> list = watches.get(e.leaseId());
    if (list == null) {
      return;
    }
    for (Watcher w : list) {
      if (e.revokes()) {
        send(w, new WatchMsg("revoked", e.type().wireName()));
      } else if (e.type() == LeaseEventType.YIELD_REQUESTED) {
        send(w, new WatchMsg("yield_requested", e.reason()));
      }
      if (e.freesCapacity()) {
        send(w, new WatchMsg("ended", e.type().wireName()));
      }
    }
    if (e.freesCapacity()) {
      watches.remove(e.leaseId());
    }
  }

  /** The broker went away: every stream breaks. */
  void breakAll() {
    watches.values().forEach(list -> list.forEach(w -> send(w, new WatchMsg("broken", "the broker went away"))));
    watches.clear();
  }

  private void send(Watcher w, WatchMsg m) {
    net.send(host, w.client(), () -> w.sink().accept(m));
  }
}
