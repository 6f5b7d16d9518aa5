package io.iqa.broker.store.impl;

import io.iqa.broker.store.EndReason;
import io.iqa.broker.store.StoreException;
import io.iqa.protocol.wire.Priority;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The memory store's state file: JSON lines, a snapshot of the live leases first, then one line per
 * change (grant, renew, revoke, end), appended inside the store's step, so before its answer is
 * sent. A killed broker loses nothing (the lines are in the kernel's page cache); with
 * {@code fsync} every line also reaches the disk before the answer (survives power loss). When
 * the changes outnumber the live leases by far, the file is rewritten as one snapshot (a temporary
 * file renamed over it). Times are wall-clock epoch ms: the monotonic clock does not survive a
 * restart. Only token hashes are written; the file is readable by its owner only.
 */
final class LeaseJournal implements AutoCloseable {

  private static final int COMPACT_MIN_LINES = 1024;

  /**
   * What a state file holds: the next lease id, the next event sequence number (each change line is
   * one event, so a restarted broker's event log goes on from there) and the live leases.
   */
  record State(long nextLeaseId, long nextEventSeq, List<JsonObject> leases) {
  }

  private final Path file;
  private final boolean fsync;
  private FileChannel channel;
  private int linesSinceSnapshot;

  private LeaseJournal(Path file, boolean fsync) {
    this.file = file;
    this.fsync = fsync;
  }

  /**
   * Reads the state file. @return its state, or null when there is no file
   * @throws StoreException when it cannot be read or is damaged before its last line (a torn last
   *     line, from a crash in the middle of a write, is dropped)
   */
  static State read(Path file) {
    if (!Files.exists(file)) {
      return null;
    }
    List<String> lines;
    try {
      lines = Files.readAllLines(file, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw damaged(file, "cannot read it: " + e.getMessage());
    }
    long nextId = 1;
    long nextSeq = 1;
    Map<Long, JsonObject> live = new LinkedHashMap<>();
    for (int i = 0; i < lines.size(); i++) {
      if (lines.get(i).isBlank()) {
        continue;
      }
      JsonObject rec;
      try {
        rec = new JsonObject(lines.get(i));
      } catch (DecodeException e) {
        if (i == lines.size() - 1) {
          break; // torn last line: the change it described was never answered
        }
        throw damaged(file, "line " + (i + 1) + " is not JSON");
      }
      switch (rec.getString("op", "")) {
        case "snapshot" -> {
          live.clear();
          nextId = rec.getLong("next_id");
          nextSeq = rec.getLong("next_event_seq", 1L) - 1;
          for (Object l : rec.getJsonArray("leases")) {
            live.put(((JsonObject) l).getLong("id"), (JsonObject) l);
          }
        }
        case "grant" -> {
          JsonObject l = rec.getJsonObject("lease");
          live.put(l.getLong("id"), l);
          nextId = Math.max(nextId, l.getLong("id") + 1);
        }
        case "renew" -> update(live, rec, l -> l.put("ttl", rec.getLong("ttl")).put("expires", rec.getLong("expires")));
        case "revoke" -> update(live, rec, l -> l.put("rv", rec.getString("reason")).put("rvat", rec.getLong("at")));
        case "end" -> live.remove(rec.getLong("id"));
        default -> throw damaged(file, "line " + (i + 1) + " has no known op");
      }
      nextSeq++;
    }
    return new State(nextId, nextSeq, new ArrayList<>(live.values()));
  }

  private static void update(Map<Long, JsonObject> live, JsonObject rec, java.util.function.Consumer<JsonObject> change) {
    JsonObject l = live.get(rec.getLong("id"));
    if (l != null) {
      change.accept(l);
    }
  }

  /** Starts a fresh file holding {@code leases}, replacing whatever was there. */
  static LeaseJournal open(Path file, boolean fsync, long nextLeaseId, long nextEventSeq,
      Collection<JsonObject> leases) {
    LeaseJournal journal = new LeaseJournal(file, fsync);
    journal.compact(nextLeaseId, nextEventSeq, leases);
    return journal;
  }

  void grant(JsonObject lease) {
    append(new JsonObject().put("op", "grant").put("lease", lease));
  }

  void renew(long id, long ttlMs, long expiresWallMs) {
    append(new JsonObject().put("op", "renew").put("id", id).put("ttl", ttlMs).put("expires", expiresWallMs));
  }

  void revoke(long id, EndReason reason, long atWallMs) {
    append(new JsonObject().put("op", "revoke").put("id", id).put("reason", reason.wireName()).put("at", atWallMs));
  }

  void end(long id) {
    append(new JsonObject().put("op", "end").put("id", id));
  }

  /** @return whether the file has grown enough, against {@code liveLeases}, to be rewritten */
  boolean compactionDue(int liveLeases) {
    return linesSinceSnapshot > Math.max(COMPACT_MIN_LINES, 8 * liveLeases);
  }

  /** Rewrites the file as one snapshot line. */
  void compact(long nextLeaseId, long nextEventSeq, Collection<JsonObject> leases) {
    JsonObject snapshot = new JsonObject().put("op", "snapshot").put("next_id", nextLeaseId)
        .put("next_event_seq", nextEventSeq).put("leases", new JsonArray(new ArrayList<>(leases)));
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    try {
      Files.createDirectories(file.toAbsolutePath().getParent());
      try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
          StandardOpenOption.TRUNCATE_EXISTING)) {
        write(out, snapshot);
        if (fsync) {
          out.force(true);
        }
      }
      ownerOnly(tmp);
      try {
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
      }
      if (channel != null) {
        channel.close();
      }
      channel = FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
      linesSinceSnapshot = 0;
    } catch (IOException e) {
      throw unwritable(e);
    }
  }

  private void append(JsonObject record) {
    try {
      write(channel, record);
      if (fsync) {
        channel.force(false);
      }
      linesSinceSnapshot++;
    } catch (IOException e) {
      throw unwritable(e);
    }
  }

  private static void write(FileChannel out, JsonObject record) throws IOException {
    ByteBuffer buf = ByteBuffer.wrap((record.encode() + "\n").getBytes(StandardCharsets.UTF_8));
    while (buf.hasRemaining()) {
      out.write(buf);
    }
  }

  private static void ownerOnly(Path p) {
    try {
      Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rw-------"));
    } catch (UnsupportedOperationException | IOException ignored) {
      // not a POSIX file system: keep its defaults
    }
  }

  private StoreException unwritable(IOException e) {
    return new StoreException(StoreException.Kind.UNAVAILABLE,
        "cannot write the lease state file " + file + ": " + e.getMessage() + "; nothing was changed", null, e);
  }

  private static StoreException damaged(Path file, String what) {
    return new StoreException(StoreException.Kind.UNAVAILABLE, "the lease state file " + file + " is damaged ("
        + what + "); repair or move it, or start with --fresh to discard it (only when no lease from before can be alive)");
  }

  @Override
  public void close() {
    try {
      if (channel != null) {
        channel.close();
      }
    } catch (IOException ignored) {
      // closing
    }
  }

  /** The JSON a lease is written as (wall-clock times). */
  static JsonObject toJson(MemoryLease l, java.util.function.LongUnaryOperator wallMs) {
    JsonObject json = new JsonObject().put("id", l.leaseId).put("th", l.tokenHash).put("gpu", l.gpu)
        .put("owner", l.owner).put("purpose", l.purpose).put("vram", l.vramMb).put("excl", l.exclusive)
        .put("prio", l.priority.wireName()).put("pid", l.pid).put("pids", l.pidStartMs).put("host", l.host)
        .put("granted", wallMs.applyAsLong(l.grantedMono)).put("ttl", l.ttlMs)
        .put("expires", wallMs.applyAsLong(l.expiresMono)).put("yield", l.yieldable);
    if (l.revoked != null) {
      json.put("rv", l.revoked.wireName()).put("rvat", wallMs.applyAsLong(l.revokedMono));
    }
    return json;
  }

  /** The lease a JSON line describes, its wall-clock times turned back into {@code monoMs}. */
  static MemoryLease fromJson(JsonObject j, java.util.function.LongUnaryOperator monoMs) {
    MemoryLease l = new MemoryLease(j.getLong("id"), j.getString("th"), j.getInteger("gpu"), j.getString("owner"),
        j.getString("purpose", ""), j.getInteger("vram"), j.getBoolean("excl"), Priority.parse(j.getString("prio")),
        j.getLong("pid"), j.getLong("pids"), j.getString("host"), monoMs.applyAsLong(j.getLong("granted")),
        j.getLong("ttl"), monoMs.applyAsLong(j.getLong("expires")), j.getBoolean("yield", false));
    if (j.getString("rv") != null) {
      l.revoked = EndReason.fromWire(j.getString("rv"));
      l.revokedMono = monoMs.applyAsLong(j.getLong("rvat"));
    }
    return l;
  }
}
