package io.iqa.broker.store;

/** What a store tells the broker that uses it. Called on the store's context; must not block. */
public interface StoreListener {

  /**
   * A lease event happened.
   *
   * @param local true when this broker's own step caused it; false when another broker sharing
   *     the store did (so fleet-wide events are counted and logged once, by their broker)
   */
  void onEvent(LeaseEvent event, boolean local);

  /**
   * Capacity on {@code gpu} was freed or its queue changed, so a waiter may now be granted.
   * Waiters retry their acquire on this, so a hand-off needs no polling.
   */
  void onWake(int gpu);

  /**
   * Events may have been missed (a shared store's notification channel was down): whoever keeps
   * state derived from events should read it again from the store.
   */
  default void onResync() {
  }
}
