package io.iqa.holder;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.function.BiConsumer;

/**
 * The events of one {@link HolderRules}, handled one at a time in the order they came: an event
 * that an action raises (a launch that fails at once, a demand on entering idle) waits its turn and
 * is never handled inside another event's actions. The {@link HolderLoop} and the simulator's
 * sidecar both feed their rules through one.
 */
public final class HolderInbox {

  private final HolderRules rules;
  private final BiConsumer<HolderEvent, List<HolderAction>> carryOut;
  private final Deque<HolderEvent> events = new ArrayDeque<>();
  private boolean handling;

  /** @param carryOut carries out the actions the rules gave for an event */
  public HolderInbox(HolderRules rules, BiConsumer<HolderEvent, List<HolderAction>> carryOut) {
    this.rules = rules;
    this.carryOut = carryOut;
  }

  /** Queues {@code e} and, unless this is called from an action, handles every queued event in order. */
  public void fire(HolderEvent e) {
    events.addLast(e);
    if (handling) {
      return;
    }
    handling = true;
    try {
      while (!events.isEmpty()) {
        HolderEvent next = events.pollFirst();
        carryOut.accept(next, rules.handle(next));
      }
    } finally {
      handling = false;
    }
  }
}
