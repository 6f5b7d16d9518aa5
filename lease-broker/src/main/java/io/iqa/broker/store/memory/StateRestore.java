package io.iqa.broker.store.memory;

import io.iqa.broker.store.JournalFile;
import io.iqa.broker.store.RestoreRule;
import io.iqa.broker.store.StoreClock;
import io.iqa.broker.store.StoreException;
import io.iqa.broker.store.StoreSettings;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** How a {@link MemoryLeaseStore} starts from its state file, or from none. */
final class StateRestore {

  private static final Logger LOG = LoggerFactory.getLogger(MemoryLeaseStore.class);

  private StateRestore() {
  }

  /**
   * Reads the state file, or decides that there is none to read. A state file that does not exist
   * yet is a first start (nothing can have been granted: grant at once). State that existed and is
   * gone (no state file configured, an empty or unreadable file, a torn snapshot) starts the
   * recovery grace, and so does a start during a grace that had not ended (the file says so): a
   * lease granted before may still be in use. Lease ids go on above every id the file names; after
   * lost state, above the Unix time in seconds as well, so no id is handed out twice.
   */
  static void restore(StoreSettings settings, JournalFile file, StoreClock clock, RestoreRule restoreRule,
      MemoryCapacity capacity, MemoryLeases leases) {
    long now = leases.monoMs();
    JournalReader.State state = null;
    String lostWhy = null;
    if (settings.fresh()) {
      LOG.info("--fresh: no lease from an earlier run can be alive; {}", file == null ? "no state file is kept"
          : "the state file " + file.describe() + " starts anew");
    } else if (file == null) {
      lostWhy = "no state_file is configured, so leases granted before this start are unknown";
    } else if (!file.exists()) {
      LOG.info("first start: no lease state file at {} yet; it is created now", file.describe());
    } else {
      try {
        state = JournalReader.read(file);
      } catch (java.nio.file.AccessDeniedException e) {
        // Not damage: the file is whole, this user may not read it. Moving it aside would forget its
        // leases; the operator fixes the permissions instead.
        throw new StoreException(StoreException.Kind.UNAVAILABLE, "the lease state file " + file.describe()
            + " exists but this user (" + System.getProperty("user.name") + ") may not read it: fix its permissions "
            + "(the broker keeps its leases there), or name another state_file", null, e);
      } catch (IOException e) {
        lostWhy = "the lease state file " + file.describe() + " cannot be read (" + LeaseJournal.describe(e)
            + "); it was moved to " + moveAside(file, ".unreadable", e);
      }
    }
    List<LeaseRecord> kept = new ArrayList<>();
    if (state != null) {
      state.skipped().forEach(s -> LOG.warn("lease state file {}: {}", file.describe(), s));
      for (LeaseRecord r : state.leases()) {
        if (!capacity.has(r.gpu())) {
          throw new StoreException(StoreException.Kind.UNAVAILABLE, "the lease state file " + file.describe()
              + " holds lease " + r.id() + " on gpu " + r.gpu() + ", which this broker's gpus do not list");
        }
        leases.put(MemoryLease.restored(r, now, clock.wallMs(), restoreRule));
      }
      state.ended().forEach(leases.ended::remember);
      leases.nextLeaseId = state.nextLeaseId();
      leases.log.nextSeq = state.nextEventSeq();
      if (state.empty()) {
        lostWhy = "the lease state file " + file.describe() + " is empty";
      } else if (state.lost()) {
        lostWhy = "the lease state file " + file.describe() + " is damaged (" + String.join("; ", state.skipped())
            + "); it was moved to " + moveAside(file, ".damaged", null) + " and its readable leases kept";
      } else if (state.recovering()) {
        LOG.warn("the broker stopped during a recovery grace: the grace starts again");
      }
      LOG.info("restored {} lease(s) from {} (next lease_id {}; each gets its full ttl from now)",
          leases.all().size(), file.describe(), leases.nextLeaseId);
    }
    boolean grace = lostWhy != null || state != null && state.recovering();
    if (lostWhy != null) {
      leases.nextLeaseId = Math.max(leases.nextLeaseId, clock.wallMs() / 1000);
    }
    if (grace && settings.recoveryGraceMs() > 0) {
      leases.recoveringUntil = now + settings.recoveryGraceMs();
      LOG.warn("{}: granting nothing until {} (recovery_grace_s={}), in case a lease granted before is still in "
          + "use; lease ids go on from {}. Start with --fresh only when no such lease can be alive.",
          lostWhy != null ? lostWhy : "resuming the recovery grace", leases.wall(leases.recoveringUntil),
          settings.recoveryGraceMs() / 1000, leases.nextLeaseId);
    }
    if (file != null) {
      leases.journal = LeaseJournal.open(file, settings.stateFsync(), leases.nextLeaseId, leases.log.nextSeq,
          leases.recovering(now), leases.records(now), leases.ended.last(), state != null && !state.lost());
    }
  }

  /**
   * Keeps an unreadable or damaged state file for the operator (a new one is written in its place);
   * if even that fails, the broker cannot keep state and does not start.
   */
  private static String moveAside(JournalFile file, String what, IOException cause) {
    try {
      return file.moveAside(what + "-" + System.currentTimeMillis());
    } catch (IOException e) {
      throw new StoreException(StoreException.Kind.UNAVAILABLE, "cannot " + (cause == null ? "rewrite the damaged"
          : "read the") + " lease state file " + file.describe() + (cause == null ? "" : " (" + LeaseJournal.describe(cause)
          + ")") + " nor move it aside (" + LeaseJournal.describe(e) + "): fix its permissions, or start with --fresh "
          + "only when no lease granted before can be alive", null, e);
    }
  }
}
