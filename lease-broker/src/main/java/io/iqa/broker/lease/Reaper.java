package io.iqa.broker.lease;

import io.iqa.protocol.wire.EndReason;
import io.iqa.broker.store.Lease;
import io.iqa.broker.store.LeaseStore;
import io.vertx.core.Future;
import java.util.List;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One round of the broker's reaper, every {@code reaper_interval_ms}: the queued requests this
 * broker serves are heart-beaten, leases whose ttl ran out end, and leases whose holder is gone end
 * as {@code holder_exited}: the holder process and every process that carries its lease's id (what
 * it started, which its parent-death signal takes down a moment later). The broker runs it on a
 * timer; the simulation on its clock.
 */
public final class Reaper {

  private static final Logger LOG = LoggerFactory.getLogger(Reaper.class);

  private Reaper() {
  }

  /** @param holderGone whether a lease's holder, and every process carrying its id, is known to be gone */
  public static Future<Void> reap(LeaseStore store, List<String> waiterIds, Predicate<Lease> holderGone) {
    store.touchWaiters(waiterIds)
        .onFailure(e -> LOG.debug("could not heartbeat queued requests: {}", e.getMessage()));
    return store.expireDue()
        .compose(v -> store.snapshot())
        .map(snapshot -> {
          for (Lease lease : snapshot.leases()) {
            if (holderGone.test(lease)) {
              store.end(lease.leaseId(), EndReason.HOLDER_EXITED, "broker",
                  "holder process " + lease.pid() + " on " + lease.host() + " exited");
            }
          }
          return null;
        });
  }
}
