package io.iqa.holder;

import io.iqa.client.LeaseLoss;

/** What happens to a holder, as its {@link HolderRules} hear it; {@code now} is the edge's nanoTime. */
public sealed interface HolderEvent {

  long now();


  /** The holder starts: take the lease if the GPU is free now, load the models (or wake the server). */
  record Start(long now) implements HolderEvent {
  }

  /** The holder starts cold: no lease and no worker until work comes ({@code iqa gpu serve}). */
  record StartIdle(long now) implements HolderEvent {
  }

  /** Work waits and no worker takes it. */
  record Demand(long now) implements HolderEvent {
  }

  /** The lease came: its gpu and the time (nanoTime) the holder must stop by. */
  record Granted(long now, int gpu, long stopByNanos) implements HolderEvent {
  }

  /** No lease came ({@code why}). */
  record Refused(long now, String why) implements HolderEvent {
  }

  record WorkerReady(long now, int gen, long loadMs) implements HolderEvent {
  }

  /** The worker said its models did not load, or did not say READY in time. */
  record WorkerFailed(long now, int gen, String why) implements HolderEvent {
  }

  /** The worker's process is gone (it exited, was killed, or could not be started at all). */
  record WorkerGone(long now, int gen, int code, String why) implements HolderEvent {
  }

  /** The worker stopped answering (no heartbeat, or a job past its timeout). */
  record WorkerHung(long now, int gen, String why) implements HolderEvent {
  }

  /** Every image sent to the worker has its answer. */
  record SentAnswered(long now) implements HolderEvent {
  }

  /** The drain's bound passed before every image sent had its answer. */
  record DrainTimedOut(long now) implements HolderEvent {
  }

  /** No cache miss for idle_release_s. */
  record Idle(long now, String why) implements HolderEvent {
  }

  /** The broker asks for the GPU. */
  record Yield(long now, String why, long remainingMs) implements HolderEvent {
  }

  /** POST /release. */
  record ReleaseAsked(long now, String why) implements HolderEvent {
  }

  /** The lease was revoked or lost; {@code remainingMs} to the holder's own deadline. */
  record LeaseLost(long now, LeaseLoss loss, long remainingMs) implements HolderEvent {
  }

  /** A renew moved the holder's deadline. */
  record Deadline(long now, long stopByNanos) implements HolderEvent {
  }

  /** The release the rules asked for is done (or failed: the broker hands on at expires_at). */
  record LeaseReleased(long now) implements HolderEvent {
  }

  /** /shutdown or SIGTERM. */
  record ShutdownAsked(long now, String why) implements HolderEvent {
  }

  /** The HTTP requests in flight at a shutdown are answered. */
  record InflightDrained(long now) implements HolderEvent {
  }
}
