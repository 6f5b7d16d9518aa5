package io.iqa.broker.store;

import io.iqa.protocol.wire.EndReason;

/**
 * Release outcome: {@code released} true when this call freed the lease's capacity (for a revoking
 * lease: the holder's confirmation, with {@code revoked} saying why it was being taken back); false
 * with the end {@code reason} when the lease had already ended.
 */
public record ReleaseResult(boolean released, EndReason reason, EndReason revoked) {
}
