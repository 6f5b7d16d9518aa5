package io.iqa.broker.store.memory;

import io.iqa.broker.store.EndReason;
import io.iqa.broker.store.JournalFile;
import io.iqa.broker.store.StoreException;
import io.iqa.protocol.wire.Priority;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
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
  static final int VERSION = 2;
  private static final int COMPACT_MIN_LINES = 1024;
  private static final Pattern IDS = Pattern.compile("\"(?:id|next_id)\":(\\d{1,18})");
  private static final String RECORD_START = "{\"op\":";

  /**
   * What a state file holds.
   *
   * @param nextLeaseId the next lease id: above every id the file names, torn lines included
   * @param nextEventSeq each change line is one event, so a restarted broker's event log goes on
   * @param lost the file is empty or its snapshot is torn or missing: leases may have been forgotten
   * @param empty the file holds no record at all
   * @param recovering the file was written during a recovery grace that had not ended
   * @param skipped what was skipped and why, one line each, for the log
   * @param ended the leases that ended last (up to {@link #ENDED_KEPT}), so a release that comes late
   *     after a restart still hears why its lease ended
   */
  record State(long nextLeaseId, long nextEventSeq, List<LeaseRecord> leases, boolean lost, boolean empty,
      boolean recovering, List<String> skipped, List<Ended> ended) {
  }

  /** How many ended leases a snapshot keeps. */
  static final int ENDED_KEPT = 256;

  /** A lease that ended: its token's hash and why, for a late renew or release. */
  record Ended(long id, String tokenHash, EndReason reason) {
    JsonObject toJson() {
      return new JsonObject().put("id", id).put("th", tokenHash).put("reason", reason.wireName());
    }

    static Ended fromJson(JsonObject j) {
      EndReason reason = EndReason.fromWire(j.getString("reason"));
      String th = j.getString("th");
      if (reason == null || th == null || th.isEmpty()) {
        throw new IllegalArgumentException("an ended lease needs its token hash and a known reason");
      }
      return new Ended(j.getLong("id"), th, reason);
    }
  }

  /**
   * One lease as the file keeps it.
   *
   * @param ageMs ms since its grant when last written; the restarted store counts on from there
   * @param expiresWallMs when it expired by the wall clock of the broker that wrote it (for people;
   *     never used to decide), or null
   * @param revokedAgeMs its age when the revocation began
   */
  record LeaseRecord(long id, String tokenHash, int gpu, String owner, String purpose, int vramMb, boolean exclusive,
      Priority priority, Long pid, String pidIdentity, String host, long ttlMs, long ageMs, Long expiresWallMs,
      boolean yieldable, EndReason revoked, long revokedAgeMs) {

    JsonObject toJson() {
      JsonObject j = new JsonObject().put("id", id).put("th", tokenHash).put("gpu", gpu).put("owner", owner)
          .put("purpose", purpose).put("vram", vramMb).put("excl", exclusive).put("prio", priority.wireName())
          .put("pid", pid).put("pidid", pidIdentity).put("host", host).put("ttl", ttlMs).put("age", ageMs)
          .put("expires_wall", expiresWallMs).put("yield", yieldable);
      if (revoked != null) {
        j.put("rv", revoked.wireName()).put("rvage", revokedAgeMs);
      }
      return j;
    }

    /**
     * @throws RuntimeException (ClassCast, NullPointer, IllegalArgument) when a field is missing or of
     *     the wrong type. Reads version 1 files too: wall times ({@code granted}, {@code expires}) and
     *     a start time in ms ({@code pids}) where version 2 keeps ages and a process identity.
     */
    static LeaseRecord fromJson(JsonObject j) {
      Priority priority = Priority.parse(j.getString("prio"));
      if (priority == null) {
        throw new IllegalArgumentException("unknown priority " + j.getValue("prio"));
      }
      String rv = j.getString("rv");
      EndReason revoked = rv == null ? null : EndReason.fromWire(rv);
      if (rv != null && (revoked == null || !revoked.revokes())) {
        throw new IllegalArgumentException("unknown revocation " + rv);
      }
      long id = j.getLong("id");
      long ttl = j.getLong("ttl");
      if (id < 1 || ttl < 1) {
        throw new IllegalArgumentException("id and ttl must be positive");
      }
      return new LeaseRecord(id, requireText(j, "th"), j.getInteger("gpu"), requireText(j, "owner"),
          j.getString("purpose", ""), j.getInteger("vram"), j.getBoolean("excl"), priority, j.getLong("pid"),
          j.getValue("pidid") instanceof String s ? s : null, j.getString("host"), ttl, j.getLong("age", 0L),
          j.containsKey("expires_wall") ? j.getLong("expires_wall") : j.getLong("expires"),
          j.getBoolean("yield", false), revoked, j.getLong("rvage", 0L));
    }

    LeaseRecord renewed(long ttl, long age, long expiresWall) {
      return new LeaseRecord(id, tokenHash, gpu, owner, purpose, vramMb, exclusive, priority, pid, pidIdentity, host,
          ttl, age, expiresWall, yieldable, revoked, revokedAgeMs);
    }

    LeaseRecord revokedAs(EndReason reason, long age) {
      return new LeaseRecord(id, tokenHash, gpu, owner, purpose, vramMb, exclusive, priority, pid, pidIdentity, host,
          ttlMs, age, expiresWallMs, yieldable, reason, age);
    }

    private static String requireText(JsonObject j, String key) {
      String s = j.getString(key);
      if (s == null || s.isEmpty()) {
        throw new IllegalArgumentException(key + " is missing");
      }
      return s;
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
   * Reads a state file that exists.
   * @throws IOException when it cannot be read (the caller decides what that means)
   */
  static State read(JournalFile file) throws IOException {
    return parse(new String(file.read(), StandardCharsets.UTF_8));
  }

  static State parse(String text) {
    long nextId = 1;
    long nextSeq = 1;
    boolean lost = false;
    boolean recovering = false;
    boolean first = true;
    Map<Long, LeaseRecord> live = new LinkedHashMap<>();
    LinkedHashMap<Long, Ended> ended = new LinkedHashMap<>();
    List<String> skipped = new ArrayList<>();
    String[] lines = text.split("\n", -1);
    for (int i = 0; i < lines.length; i++) {
      String line = lines[i];
      if (line.isBlank()) {
        continue;
      }
      nextId = Math.max(nextId, highestId(line) + 1);
      JsonObject rec = json(line);
      if (rec == null) {
        // A whole record glued behind a torn one (an append after a failed one, by an older broker).
        int glued = line.lastIndexOf(RECORD_START);
        rec = glued > 0 ? json(line.substring(glued)) : null;
        if (rec == null) {
          if (first) {
            lost = true;
            skipped.add("line " + (i + 1) + " (the snapshot of every live lease) is torn: those leases are lost");
          } else {
            skipped.add("line " + (i + 1) + " is not a whole record (a write cut short): skipped");
          }
          first = false;
          continue;
        }
        skipped.add("line " + (i + 1) + " holds a torn record followed by a whole one: the whole one is kept");
      }
      final JsonObject record = rec;
      Object op = record.getValue("op");
      if (first && !"snapshot".equals(op)) {
        lost = true;
        skipped.add("line " + (i + 1) + " is not the snapshot a state file starts with: the snapshot is lost");
      }
      try {
        switch (String.valueOf(op)) {
          case "snapshot" -> {
            long snapNext = record.getLong("next_id");
            long snapSeq = record.getLong("next_event_seq", 1L);
            boolean snapRecovering = record.getBoolean("recovering", false);
            JsonArray leases = record.getJsonArray("leases");
            live.clear();
            ended.clear();
            JsonArray endedList = record.getJsonArray("ended", new JsonArray());
            for (int k = 0; k < endedList.size(); k++) {
              try {
                Ended e = Ended.fromJson(endedList.getJsonObject(k));
                ended.put(e.id(), e);
              } catch (RuntimeException e) {
                skipped.add("line " + (i + 1) + ": ended lease " + (k + 1) + " of the snapshot is not valid (" + describe(e)
                    + "): a late release of it gets 404");
              }
            }
            for (int k = 0; k < leases.size(); k++) {
              try {
                LeaseRecord r = LeaseRecord.fromJson(leases.getJsonObject(k));
                live.put(r.id(), r);
              } catch (RuntimeException e) {
                // A lease that may be in use and cannot be read back: as good as forgotten.
                lost = true;
                skipped.add("line " + (i + 1) + ": lease " + (k + 1) + " of the snapshot is not valid ("
                    + describe(e) + "): that lease is lost");
              }
            }
            nextId = Math.max(nextId, snapNext);
            nextSeq = snapSeq - 1;
            recovering = snapRecovering;
          }
          case "grant" -> {
            try {
              LeaseRecord r = LeaseRecord.fromJson(record.getJsonObject("lease"));
              live.put(r.id(), r);
            } catch (RuntimeException e) {
              // A whole grant record that cannot be read (damaged by hand?) may describe a lease in use.
              lost = true;
              throw e;
            }
          }
          case "renew" -> update(live, record.getLong("id"), r -> r.renewed(record.getLong("ttl"),
              record.getLong("age", r.ageMs()), record.getLong("expires_wall", record.getLong("expires"))));
          case "revoke" -> {
            EndReason named = EndReason.fromWire(record.getString("reason"));
            // A revocation whose reason cannot be read is still a revocation (its holder was told to
            // stop): kept as a force-release, never turned back into a held lease.
            EndReason reason = named != null && named.revokes() ? named : EndReason.FORCE_RELEASED;
            if (reason != named) {
              skipped.add("line " + (i + 1) + ": revocation reason " + record.getValue("reason")
                  + " is unknown: the lease stays revoked (as force_released)");
            }
            update(live, record.getLong("id"), r -> r.revokedAs(reason, record.getLong("age", r.ageMs())));
          }
          case "end" -> {
            long id = record.getLong("id");
            live.remove(id);
            if (record.containsKey("th")) {
              ended.put(id, Ended.fromJson(record));
              if (ended.size() > ENDED_KEPT) {
                ended.remove(ended.keySet().iterator().next());
              }
            }
          }
          case "recovering" -> recovering = true;
          case "recovered" -> recovering = false;
          default -> throw new IllegalArgumentException("unknown op " + op);
        }
        nextSeq++;
      } catch (RuntimeException e) {
        if (first) {
          lost = true;
        }
        skipped.add("line " + (i + 1) + " is not a valid '" + op + "' record (" + describe(e) + "): skipped");
      }
      first = false;
    }
    if (first) {
      lost = true;
    }
    for (LeaseRecord r : live.values()) {
      nextId = Math.max(nextId, r.id() + 1);
    }
    return new State(nextId, Math.max(1, nextSeq), new ArrayList<>(live.values()), lost, first, recovering, skipped,
        new ArrayList<>(ended.values()));
  }

  private static JsonObject json(String line) {
    try {
      return new JsonObject(line);
    } catch (RuntimeException e) {
      return null;
    }
  }

  private static long highestId(String line) {
    long max = 0;
    Matcher m = IDS.matcher(line);
    while (m.find()) {
      max = Math.max(max, Long.parseLong(m.group(1)));
    }
    return max;
  }

  private static void update(Map<Long, LeaseRecord> live, Long id, UnaryOperator<LeaseRecord> change) {
    LeaseRecord l = live.get(id);
    if (l != null) {
      live.put(id, change.apply(l));
    }
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
    append(new JsonObject().put("op", "renew").put("id", id).put("ttl", ttlMs).put("age", ageMs)
        .put("expires_wall", expiresWallMs));
  }

  void revoke(long id, EndReason reason, long ageMs) {
    append(new JsonObject().put("op", "revoke").put("id", id).put("reason", reason.wireName()).put("age", ageMs));
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
