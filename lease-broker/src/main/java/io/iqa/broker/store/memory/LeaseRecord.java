package io.iqa.broker.store.memory;

import com.fasterxml.jackson.annotation.JsonAlias;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import io.iqa.protocol.wire.EndReason;
import io.iqa.protocol.wire.Priority;
import io.iqa.protocol.wire.WireJson;
import io.vertx.core.json.JsonObject;

/**
 * One lease as the state file keeps it, read and written by {@link WireJson} in its Java names
 * ({@code token_hash}, {@code vram_mb}, ...). The store's own {@link MemoryLease} differs: it
 * counts on the monotonic clock, which means nothing after a restart, so the file keeps ages.
 * Files written before version 3 used short names ({@code th}, {@code vram}, {@code prio}, ...):
 * they are read as well ({@link JsonAlias}), and version 1's wall times as the expiry shown.
 *
 * @param ageMs ms since its grant when last written; the restarted store counts on from there
 * @param expiresWallMs when it expired by the wall clock of the broker that wrote it (for people;
 *     never used to decide), or null
 * @param revokedAgeMs its age when the revocation began
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
record LeaseRecord(
    @JsonProperty(required = true) long id,
    @JsonProperty(required = true) @JsonAlias("th") String tokenHash,
    @JsonProperty(required = true) int gpu,
    @JsonProperty(required = true) String owner,
    String purpose,
    @JsonProperty(required = true) @JsonAlias("vram") int vramMb,
    @JsonProperty(required = true) @JsonAlias("excl") boolean exclusive,
    @JsonAlias("prio") Priority priority,
    Long pid,
    @JsonAlias("pidid") String pidIdentity,
    String host,
    @JsonProperty(required = true) @JsonAlias("ttl") long ttlMs,
    @JsonAlias("age") long ageMs,
    @JsonAlias({"expires_wall", "expires"}) Long expiresWallMs,
    @JsonAlias("yield") boolean yieldable,
    @JsonAlias("rv") EndReason revoked,
    @JsonAlias("rvage") long revokedAgeMs) {

  /** @throws IllegalArgumentException when a field is missing, unknown or out of range */
  LeaseRecord {
    if (id < 1 || ttlMs < 1) {
      throw new IllegalArgumentException("id and ttl must be positive");
    }
    if (tokenHash == null || tokenHash.isEmpty() || owner == null || owner.isEmpty()) {
      throw new IllegalArgumentException("the token hash and the owner must not be empty");
    }
    if (priority == null) {
      throw new IllegalArgumentException("the priority is missing or unknown");
    }
    if (revoked != null && !revoked.revokes()) {
      throw new IllegalArgumentException("unknown revocation " + revoked.wireName());
    }
    purpose = purpose == null ? "" : purpose;
  }

  JsonObject toJson() {
    return new JsonObject(WireJson.toMap(this));
  }

  /** @throws IllegalArgumentException when {@code j} is no valid lease */
  static LeaseRecord fromJson(JsonObject j) {
    if (j == null) {
      throw new IllegalArgumentException("the lease is missing");
    }
    LeaseRecord r = WireJson.fromMap(j.getMap(), LeaseRecord.class);
    Object rv = j.getValue("revoked", j.getValue("rv"));
    if (rv != null && r.revoked() == null) {
      // An unknown name reads as null: a revoked lease must never come back as a held one.
      throw new IllegalArgumentException("unknown revocation " + rv);
    }
    return r;
  }

  LeaseRecord renewed(long ttl, long age, long expiresWall) {
    return new LeaseRecord(id, tokenHash, gpu, owner, purpose, vramMb, exclusive, priority, pid, pidIdentity, host,
        ttl, age, expiresWall, yieldable, revoked, revokedAgeMs);
  }

  LeaseRecord revokedAs(EndReason reason, long age) {
    return new LeaseRecord(id, tokenHash, gpu, owner, purpose, vramMb, exclusive, priority, pid, pidIdentity, host,
        ttlMs, age, expiresWallMs, yieldable, reason, age);
  }
}
