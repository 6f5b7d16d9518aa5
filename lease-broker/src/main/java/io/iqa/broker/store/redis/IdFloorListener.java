package io.iqa.broker.store.redis;

import io.iqa.broker.store.LeaseEvent;
import io.iqa.broker.store.StoreListener;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Hands the store's events on, and raises {@code floor} with every lease id any broker hands out,
 * so that a Redis that lost its data never hands out an id twice (lease-store.lua keeps its counter
 * above every floor a broker brings).
 */
record IdFloorListener(AtomicLong floor, StoreListener next) implements StoreListener {

  @Override
  public void onEvent(LeaseEvent event, boolean local) {
    floor.accumulateAndGet(event.leaseId(), Math::max);
    next.onEvent(event, local);
  }

  @Override
  public void onWake(int gpu) {
    next.onWake(gpu);
  }

  @Override
  public void onResync() {
    next.onResync();
  }
}
