package io.iqa.holder;

/** What a holder does when its lease is revoked or lost, once the GPU is free again. */
public enum OnLeaseLost implements io.iqa.protocol.wire.WireEnum {
  /** Release, keep serving what needs no GPU, take a new lease for the next demand (the default). */
  IDLE,
  /** Release, then run on CPU without a lease (the sidecar's models). */
  CPU,
  /** Release, then exit with code 3. */
  EXIT
}
