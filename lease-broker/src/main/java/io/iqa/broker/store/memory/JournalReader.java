package io.iqa.broker.store.memory;

import io.iqa.protocol.wire.EndReason;
import io.iqa.broker.store.JournalFile;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads a state file that {@link LeaseJournal} wrote, of this version or an older one, into the
 * leases it holds; what cannot be read is skipped and said, and a lease that may be in use and
 * cannot be read back marks the state lost (the recovery grace then applies).
 */
final class JournalReader {

  private static final Pattern IDS = Pattern.compile("\"(?:id|next_id)\":(\\d{1,18})");

  private JournalReader() {
  }

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
      boolean recovering, List<String> skipped, List<LeaseJournal.Ended> ended) {
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
    LinkedHashMap<Long, LeaseJournal.Ended> ended = new LinkedHashMap<>();
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
        int glued = line.lastIndexOf(LeaseJournal.RECORD_START);
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
                LeaseJournal.Ended e = LeaseJournal.Ended.fromJson(endedList.getJsonObject(k));
                ended.put(e.id(), e);
              } catch (RuntimeException e) {
                skipped.add("line " + (i + 1) + ": ended lease " + (k + 1) + " of the snapshot is not valid (" + LeaseJournal.describe(e)
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
                    + LeaseJournal.describe(e) + "): that lease is lost");
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
          case "renew" -> update(live, record.getLong("id"), r -> r.renewed(field(record, "ttl_ms", "ttl"),
              field(record, "age_ms", "age", r.ageMs()), field(record, "expires_wall_ms", "expires_wall", "expires")));
          case "revoke" -> {
            EndReason named = EndReason.fromWire(record.getString("reason"));
            // A revocation whose reason cannot be read is still a revocation (its holder was told to
            // stop): kept as a force-release, never turned back into a held lease.
            EndReason reason = named != null && named.revokes() ? named : EndReason.FORCE_RELEASED;
            if (reason != named) {
              skipped.add("line " + (i + 1) + ": revocation reason " + record.getValue("reason")
                  + " is unknown: the lease stays revoked (as force_released)");
            }
            update(live, record.getLong("id"), r -> r.revokedAs(reason, field(record, "age_ms", "age", r.ageMs())));
          }
          case "end" -> {
            long id = record.getLong("id");
            live.remove(id);
            if (record.containsKey("token_hash") || record.containsKey("th")) {
              ended.put(id, LeaseJournal.Ended.fromJson(record));
              if (ended.size() > LeaseJournal.ENDED_KEPT) {
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
        skipped.add("line " + (i + 1) + " is not a valid '" + op + "' record (" + LeaseJournal.describe(e) + "): skipped");
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

  /** @return the first of {@code names} the record holds (newer names first), as a long */
  private static long field(JsonObject record, String name, String older) {
    Long v = record.getLong(name, record.getLong(older));
    if (v == null) {
      throw new IllegalArgumentException(name + " is missing");
    }
    return v;
  }

  private static long field(JsonObject record, String name, String older, long absent) {
    return record.getLong(name, record.getLong(older, absent));
  }

  private static Long field(JsonObject record, String name, String older, String oldest) {
    return record.getLong(name, record.getLong(older, record.getLong(oldest)));
  }
}
