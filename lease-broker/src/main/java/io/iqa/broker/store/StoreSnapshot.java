package io.iqa.broker.store;

import java.time.Instant;
import java.util.List;

/** Every lease and every waiter in the store at one moment of the store's clock. */
public record StoreSnapshot(Instant time, List<Lease> leases, List<Waiter> waiting) {
}
