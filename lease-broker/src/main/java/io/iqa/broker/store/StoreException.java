package io.iqa.broker.store;

import io.iqa.protocol.wire.EndReason;

/**
 * A failure the store reports on purpose; the HTTP layer maps each kind to its status and code.
 */
public class StoreException extends RuntimeException {

  public enum Kind {
    /** The lease behind a token has ended; {@link #reason()} says why. */
    LEASE_LOST,
    /** No lease, live or ended, is known for that token or id. */
    UNKNOWN_LEASE,
    /** The caller may not touch this lease. */
    FORBIDDEN,
    /** The backing store cannot be reached; nothing was changed. */
    UNAVAILABLE
  }

  private final Kind kind;
  private final EndReason reason;

  public StoreException(Kind kind, String message) {
    this(kind, message, null, null);
  }

  public StoreException(Kind kind, String message, EndReason reason, Throwable cause) {
    super(message, cause, false, false);
    this.kind = kind;
    this.reason = reason;
  }

  public static StoreException leaseLost(EndReason reason, long leaseId) {
    return new StoreException(Kind.LEASE_LOST,
        "lease " + leaseId + " has ended: " + reason.wireName(), reason, null);
  }

  /** The lease is being taken back: its holder must stop using the GPU, then release it. */
  public static StoreException revoked(EndReason reason, long leaseId) {
    return new StoreException(Kind.LEASE_LOST, "lease " + leaseId + " is being revoked (" + reason.wireName()
        + "): stop using the GPU, then release the lease so the GPU is handed on at once", reason, null);
  }

  public Kind kind() {
    return kind;
  }

  public EndReason reason() {
    return reason;
  }
}
