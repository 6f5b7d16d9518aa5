package io.iqa.broker.store;

import java.time.Instant;
import java.util.List;

/**
 * Every lease and waiter in the store at one moment of the store's clock.
 *
 * @param recoveringUntil while the store grants nothing because it started without its lease state
 *     (see {@link StoreSettings#recoveryGraceMs()}), the end of that period; else null
 */
public record StoreSnapshot(Instant time, List<Lease> leases, List<Waiter> waiting, Instant recoveringUntil) {
}
