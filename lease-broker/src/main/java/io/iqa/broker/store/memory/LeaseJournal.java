package io.iqa.broker.store.memory;

import io.iqa.protocol.wire.EndReason;
import io.iqa.broker.store.JournalFile;
import io.iqa.broker.store.StoreException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Collection;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The memory store's state file: JSON lines, a snapshot of the live leases first, then one line per
 * change (grant, renew, revoke, end, and the start and end of a recovery grace), appended inside
 * the store's step, so before its answer is sent. A killed broker loses nothing (the lines are in
 * the kernel's page cache); with {@code fsync} every line also reaches the disk before the answer
 * (survives power loss).
 *
 * <p>A record is written whole or not at all: after a failed append (a full disk) the file is cut
 * back to the last whole record before the step fails, and the caller changes nothing in memory,
 * so a change that is not on disk is not in memory either. When the changes outnumber the live
 * leases by far the file is rewritten as one snapshot (a temporary file renamed over it); a
 * compaction that fails is retried later and never fails the step that made a change.
 *
 * <p>No clock reading is trusted across a restart: a lease is kept as its ttl and its age (ms since
 * its grant, on the monotonic clock of the broker that wrote it), and the restarted store gives it a
 * full ttl from its own now (etcd's {@code Promote}): a dead holder's lease lives at most one more
 * ttl, a live one is never cut short by a clock step. The wall time of its expiry is written too,
 * for people reading the file. Only token hashes are written; the file is readable by its owner.
 *
 * <p>Reading keeps every whole record: a torn line (a crash or a full disk in the middle of a write)
 * is skipped with a warning naming it, and a whole record glued behind a torn one is recovered. An
 * empty file, or one whose snapshot is torn or missing, is lost state (the store's recovery grace).
 */
final class LeaseJournal {

  private static final Logger LOG = LoggerFactory.getLogger(LeaseJournal.class);
  static final int VERSION = 3;
  private static final int COMPACT_MIN_LINES = 1024;
  static final String RECORD_START = "{\"op\":";

  /** How many ended leases a snapshot keeps. */
  static final int ENDED_KEPT = 256;

  /** A lease that ended: its token's hash and why, for a late renew or release. */
  record Ended(long id, String tokenHash, EndReason reason) {
    JsonObject toJson() {
      return new JsonObject().put("id", id).put("token_hash", tokenHash).put("reason", reason.wireName());
    }

    static Ended fromJson(JsonObject j) {
      EndReason reason = EndReason.fromWire(j.getString("reason"));
      String th = j.getString("token_hash", j.getString("th"));
      if (reason == null || th == null || th.isEmpty()) {
        throw new IllegalArgumentException("an ended lease needs its token hash and a known reason");
      }
      return new Ended(j.getLong("id"), th, reason);
    }
  }

  private final JournalFile file;
  private final boolean fsync;
  private int linesSinceSnapshot;
  private int compactAfter = COMPACT_MIN_LINES;
  /** A failed append could not be cut back: the next record starts on a new line. */
  private boolean partialLine;

  private LeaseJournal(JournalFile file, boolean fsync) {
    this.file = file;
    this.fsync = fsync;
  }

  /**
   * Starts the file anew as one snapshot of {@code leases}, replacing whatever was there.
   * @throws StoreException when it cannot be written
   */
  static LeaseJournal open(JournalFile file, boolean fsync, long nextLeaseId, long nextEventSeq, boolean recovering,
      Collection<LeaseRecord> leases, Collection<Ended> ended, boolean keepExisting) {
    LeaseJournal journal = new LeaseJournal(file, fsync);
    try {
      journal.compact(nextLeaseId, nextEventSeq, recovering, leases, ended);
    } catch (StoreException e) {
      if (keepExisting && file.exists()) {
        // The file read back whole: appending to it keeps it right; compaction is tried again later.
        LOG.warn("could not compact the lease state file at start ({}); appending to it as it is", e.getMessage());
        journal.compactAfter = 0;
        return journal;
      }
      // No file to keep (a first start, one moved aside, --fresh): start it without the temporary file.
      try {
        if (file.exists()) {
          file.truncate(0);
        }
        file.append(line(snapshotOf(nextLeaseId, nextEventSeq, recovering, leases, ended)), fsync);
      } catch (IOException io) {
        e.addSuppressed(io);
        throw e;
      }
    }
    return journal;
  }

  void grant(LeaseRecord lease) {
    append(new JsonObject().put("op", "grant").put("lease", lease.toJson()));
  }

  void renew(long id, long ttlMs, long ageMs, long expiresWallMs) {
    append(new JsonObject().put("op", "renew").put("id", id).put("ttl_ms", ttlMs).put("age_ms", ageMs)
        .put("expires_wall_ms", expiresWallMs));
  }

  void revoke(long id, EndReason reason, long ageMs) {
    append(new JsonObject().put("op", "revoke").put("id", id).put("reason", reason.wireName()).put("age_ms", ageMs));
  }

  void end(Ended e) {
    append(e.toJson().put("op", "end"));
  }

  /** The recovery grace is over: a restart from now on grants at once. */
  void recovered() {
    append(new JsonObject().put("op", "recovered"));
  }

  /** @return whether the file has grown enough, against {@code liveLeases}, to be rewritten */
  boolean compactionDue(int liveLeases) {
    return linesSinceSnapshot > Math.max(compactAfter, 8 * liveLeases);
  }

  /**
   * Rewrites the file as one snapshot line.
   * @throws StoreException when it cannot (the file is then as it was)
   */
  void compact(long nextLeaseId, long nextEventSeq, boolean recovering, Collection<LeaseRecord> leases,
      Collection<Ended> ended) {
    try {
      file.replace(line(snapshotOf(nextLeaseId, nextEventSeq, recovering, leases, ended)), fsync);
      linesSinceSnapshot = 0;
      compactAfter = COMPACT_MIN_LINES;
      partialLine = false;
    } catch (IOException e) {
      throw unwritable(e, "the file is as it was");
    }
  }

  private static JsonObject snapshotOf(long nextLeaseId, long nextEventSeq, boolean recovering,
      Collection<LeaseRecord> leases, Collection<Ended> ended) {
    JsonArray list = new JsonArray();
    leases.forEach(l -> list.add(l.toJson()));
    JsonArray endedList = new JsonArray();
    ended.stream().skip(Math.max(0, ended.size() - ENDED_KEPT)).forEach(e -> endedList.add(e.toJson()));
    return new JsonObject().put("op", "snapshot").put("v", VERSION).put("next_id", nextLeaseId)
        .put("next_event_seq", nextEventSeq).put("recovering", recovering).put("leases", list)
        .put("ended", endedList);
  }

  /** Compacts when due; a failure is logged and tried again later, never the step's failure. */
  void compactIfDue(int liveLeases, long nextLeaseId, long nextEventSeq, boolean recovering,
      Collection<LeaseRecord> leases, Collection<Ended> ended) {
    if (!compactionDue(liveLeases)) {
      return;
    }
    try {
      compact(nextLeaseId, nextEventSeq, recovering, leases, ended);
    } catch (StoreException e) {
      compactAfter = linesSinceSnapshot + COMPACT_MIN_LINES;
      LOG.warn("could not compact the lease state file (trying again after {} more changes; every change so far is "
          + "kept): {}", COMPACT_MIN_LINES, e.getMessage());
    }
  }

  private void append(JsonObject record) {
    byte[] bytes = line(record);
    if (partialLine) {
      byte[] withBreak = new byte[bytes.length + 1];
      withBreak[0] = '\n';
      System.arraycopy(bytes, 0, withBreak, 1, bytes.length);
      bytes = withBreak;
    }
    long size = -1;
    try {
      size = file.size();
      file.append(bytes, fsync);
      linesSinceSnapshot++;
      partialLine = false;
    } catch (IOException e) {
      // Whole or not at all: what reached the file of this record is cut away again.
      String after = "nothing was changed";
      try {
        if (size >= 0) {
          file.truncate(size);
        }
      } catch (IOException cut) {
        partialLine = true;
        after = "nothing was changed (a partial line may remain; it is skipped when the file is read)";
      }
      throw unwritable(e, after);
    }
  }

  private static byte[] line(JsonObject record) {
    return (record.encode() + "\n").getBytes(StandardCharsets.UTF_8);
  }

  private StoreException unwritable(IOException e, String after) {
    return new StoreException(StoreException.Kind.UNAVAILABLE,
        "cannot write the lease state file " + file.describe() + ": " + describe(e) + "; " + after, null, e);
  }

  static String describe(Exception e) {
    String m = e.getMessage();
    return e.getClass().getSimpleName() + (m == null ? "" : " " + m);
  }

  void close() {
    file.close();
  }
}
