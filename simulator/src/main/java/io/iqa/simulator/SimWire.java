package io.iqa.simulator;

import io.iqa.protocol.wire.Priority;

/** What travels between a simulated program and the {@link SimBroker}: the lease API's requests and answers. */
final class SimWire {

  private SimWire() {
  }

  /** A lease request as a program sends it. */
  record Ask(String owner, long ttlMs, long waitMs, boolean yieldable, Priority priority, long pid) {
  }

  /** The answer to a lease request: a grant (token, lease, queued_ms), or why not. */
  record Grant(String token, long leaseId, int gpu, long ttlMs, long queuedMs, String refused) {
  }

  /** A renew's or release's answer: 200, or 404/410 ({@code lost}: the reason), or 503. */
  record Answer(boolean ok, String lost, boolean unavailable, long ttlMs) {
  }

  /** What the watch channel says: revoked, yield_requested, ended, or that the stream broke. */
  record WatchMsg(String type, String reason) {
  }
}
