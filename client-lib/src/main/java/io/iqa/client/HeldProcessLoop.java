package io.iqa.client;

import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The edge of {@link LeasedProcess}: the loop that feeds {@link HeldProcessRules} what happens (events,
 * its own timeout, the command's exit, the family gone) and carries out what they say.
 */
final class HeldProcessLoop {

  private static final Logger LOG = LoggerFactory.getLogger(LeasedProcess.class);
  private static final long FAMILY_POLL_MS = 200;

  final HeldProcessRules rules;
  final BlockingQueue<HeldProcessRules.Event> events;
  final ProcessFamily family;
  final Lease lease;
  final String name;
  final long timeoutMs;
  final CountDownLatch done = new CountDownLatch(1);
  volatile LeaseLoss loss;
  long wakeAt = Long.MAX_VALUE;
  boolean watching;
  boolean mainReported;
  boolean timedOut;
  long goneNanos;

  HeldProcessLoop(HeldProcessRules rules, BlockingQueue<HeldProcessRules.Event> events, ProcessFamily family,
      Lease lease, String name, long timeoutMs) {
    this.timeoutMs = timeoutMs;
    this.rules = rules;
    this.events = events;
    this.family = family;
    this.lease = lease;
    this.name = name;
  }

  LeasedProcess.Result loop(long timeoutAt) {
    try {
      while (true) {
        long now = System.nanoTime();
        long next = Math.min(wakeAt, timeoutAt);
        if (watching) {
          next = Math.min(next, now + FAMILY_POLL_MS * 1_000_000L);
        }
        HeldProcessRules.Event e;
        try {
          e = events.poll(Math.max(0, next - now), TimeUnit.NANOSECONDS);
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
          e = new HeldProcessRules.Stop(System.nanoTime(), HeldProcessRules.Cause.SIGNAL, "interrupted");
        }
        now = System.nanoTime();
        if (e != null) {
          LeasedProcess.Result r = feed(e);
          if (r != null) {
            return r;
          }
        }
        // What the loop sees for itself: the timeout, the command's exit, the family gone.
        if (!timedOut && now >= timeoutAt) {
          timedOut = true;
          LOG.warn("{} ran past its {} ms timeout; stopping it", name, timeoutMs);
          LeasedProcess.Result r = feed(new HeldProcessRules.Stop(now, HeldProcessRules.Cause.TIMEOUT, "past its timeout"));
          if (r != null) {
            return r;
          }
        }
        if (now >= wakeAt) {
          wakeAt = Long.MAX_VALUE;
          LeasedProcess.Result r = feed(new HeldProcessRules.Tick(now));
          if (r != null) {
            return r;
          }
        }
        if (!mainReported && !family.main().isAlive()) {
          mainReported = true;
          LeasedProcess.Result r = feed(new HeldProcessRules.MainExited(now, family.main().exitValue()));
          if (r != null) {
            return r;
          }
        }
        if (watching) {
          List<Long> running = family.running();
          if (running.isEmpty()) {
            goneNanos = now;
            LeasedProcess.Result r = feed(new HeldProcessRules.FamilyGone(now));
            if (r != null) {
              return r;
            }
          }
        }
      }
    } finally {
      done.countDown();
    }
  }

  private LeasedProcess.Result feed(HeldProcessRules.Event e) {
    HeldProcessRules.Phase before = rules.phase();
    LeasedProcess.Result result = null;
    for (HeldProcessRules.Action a : rules.handle(e)) {
      if (a instanceof HeldProcessRules.Signal s) {
        List<Long> running = family.running();
        if (!s.again()) {
          LOG.warn("stopping {} ({}): SIG{} to {}", name, s.why(), s.signal(),
              running.isEmpty() ? "its process group" : family.describe(running));
        } else if (!running.isEmpty()) {
          LOG.debug("SIG{} again to {} of {}: {}", s.signal(), family.describe(running), name, s.why());
        }
        family.signal(s.signal());
      } else if (a instanceof HeldProcessRules.WakeAt w) {
        wakeAt = w.at();
      } else if (a instanceof HeldProcessRules.WatchFamily) {
        watching = true;
      } else if (a instanceof HeldProcessRules.Release r) {
        if (lease != null) {
          lease.close(r.reason());
        }
      } else if (a instanceof HeldProcessRules.Finish f) {
        result = new LeasedProcess.Result(f.exitCode(), timedOut, loss,
            f.stoppedBy() == HeldProcessRules.Cause.YIELD && loss == null, goneNanos == 0 ? System.nanoTime() : goneNanos);
      }
    }
    if (before == HeldProcessRules.Phase.RUNNING && rules.phase() == HeldProcessRules.Phase.LINGERING) {
      List<Long> left = family.running();
      if (!left.isEmpty()) {
        LOG.warn("{} exited; {} it started still run{}: holding the lease until they exit", name,
            family.describe(left), left.size() == 1 ? "s" : "");
      }
    }
    return result;
  }
}
