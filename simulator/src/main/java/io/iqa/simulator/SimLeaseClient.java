package io.iqa.simulator;

import io.iqa.protocol.wire.EndReason;
import io.iqa.client.LeaseLoss;
import io.iqa.client.LeaseRules;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.LongConsumer;

/**
 * One program's lease client in the simulation: the real {@link LeaseRules} with the edge {@code
 * io.iqa.client.Lease} has, on the virtual clock and the simulated network: the request (with its
 * wait), the renews the rules ask for, the watch channel (reopened with back-off while the lease
 * lives), the release. It runs in its program's {@link Host}, so a paused program's timers and
 * deliveries wait, and a dead one does nothing.
 */
final class SimLeaseClient {

  /** A grant as the program sees it. */
  record Held(long leaseId, int gpu, long ttlNanos) {
  }

  private final Sim sim;
  private final Net net;
  private final SimBroker broker;
  private final Host host;
  private final Ledger ledger;
  private final Faults faults;
  private final String name;
  private LeaseRules rules;
  private String token;
  private long leaseId;
  private long ttl;
  private int wake;
  private boolean watching;
  private long watchBackoff;
  private Consumer<LeaseLoss> onLost = l -> { };
  private Consumer<String> onYield = y -> { };
  private LongConsumer onDeadline = d -> { };
  private int waiterSeq;

  SimLeaseClient(Sim sim, Net net, SimBroker broker, Host host, Ledger ledger, Faults faults, String name) {
    this.sim = sim;
    this.net = net;
    this.broker = broker;
    this.host = host;
    this.ledger = ledger;
    this.faults = faults;
    this.name = name;
  }

  /** Asks for a lease; {@code done} gets it, or null when none came. */
  void acquire(SimWire.Ask ask, String identity, Consumer<Held> done) {
    long sent = sim.now();
    String waiterKey = name + "-" + waiterSeq++;
    long timeout = ask.waitMs() * 1_000_000L + Sim.s(3);
    net.<SimWire.Grant>call(host, broker.host, timeout, call -> broker.acquire(call, ask, identity, waiterKey), o -> {
      if (!o.ok() || o.answer().refused() != null) {
        if (!o.ok()) {
          // The HTTP client gave up or its connection broke: the broker drops its place in the queue.
          net.send(host, broker.host, () -> broker.abandon(waiterKey));
        }
        sim.log(name, "no lease: " + (o.ok() ? o.answer().refused() : o.failure()));
        done.accept(null);
        return;
      }
      SimWire.Grant g = o.answer();
      token = g.token();
      leaseId = g.leaseId();
      ttl = g.ttlMs() * 1_000_000L;
      // The old rule, put back by a test switch: the deadline counted from the send time alone.
      long queued = faults.oldDeadlineRule() ? 0 : g.queuedMs() * 1_000_000L;
      rules = new LeaseRules(leaseId, sent, queued, ttl);
      sim.log(name, "granted lease " + leaseId + " (waited " + (sim.now() - sent) / 1_000_000 + " ms, queued_ms "
          + g.queuedMs() + ")");
      carryOut(rules.start(sim.now()));
      // The request's and the answer's ways: the round trip less what the broker said it held it.
      long transit = sim.now() - sent - g.queuedMs() * 1_000_000L;
      ledger.grantArrived(name, leaseId, ttl, rules.remainingNanos(sim.now()), transit);
      watching = true;
      watchBackoff = Sim.millis(250);
      openWatch();
      done.accept(new Held(leaseId, g.gpu(), ttl));
    });
  }

  void onLost(Consumer<LeaseLoss> c) {
    onLost = c;
  }

  void onYield(Consumer<String> c) {
    onYield = c;
  }

  void onDeadline(LongConsumer c) {
    onDeadline = c;
  }

  boolean valid() {
    return rules != null && rules.valid(sim.now());
  }

  long remainingNanos() {
    return rules == null ? 0 : rules.remainingNanos(sim.now());
  }

  /** @return the time the holder must stop by ({@code io.iqa.client.Lease#stopByNanos}) */
  long stopBy() {
    return rules.deadline() - rules.marginNanos();
  }

  long leaseId() {
    return leaseId;
  }

  /** Done with the GPU: release (once). */
  void close(String reason) {
    if (rules != null) {
      handle(new LeaseRules.Close(sim.now(), reason));
    }
  }

  /** The program died: nothing more is sent. */
  void halt() {
    if (rules != null) {
      handle(new LeaseRules.Halt(sim.now()));
    }
  }

  private void handle(LeaseRules.Event e) {
    carryOut(rules.handle(e));
  }

  private void carryOut(List<LeaseRules.Action> actions) {
    LeaseRules mine = rules;
    for (LeaseRules.Action a : actions) {
      if (a instanceof LeaseRules.WakeAt w) {
        int mark = ++wake;
        host.after(w.at() - sim.now(), () -> {
          if (mark == wake && rules == mine) {
            handle(new LeaseRules.Tick(sim.now()));
          }
        });
      } else if (a instanceof LeaseRules.SendRenew r) {
        String t = token;
        net.<SimWire.Answer>call(host, broker.host, r.timeoutNanos(), call -> broker.renew(call, t), o -> {
          if (rules != mine) {
            return;
          }
          if (o.ok() && o.answer().ok()) {
            handle(new LeaseRules.RenewOk(sim.now(), r.sentAt(), o.answer().ttlMs() * 1_000_000L));
          } else if (o.ok() && o.answer().lost() != null) {
            handle(new LeaseRules.RenewRefused(sim.now(), EndReason.heard(o.answer().lost()), o.answer().lost()));
          } else {
            handle(new LeaseRules.RenewFailed(sim.now(), o.ok() ? "503" : o.failure()));
          }
        });
      } else if (a instanceof LeaseRules.Lost l) {
        sim.log(name, "lease " + leaseId + " lost: " + l.loss().reason().wireName());
        onLost.accept(l.loss());
      } else if (a instanceof LeaseRules.YieldRequested y) {
        onYield.accept(y.message());
      } else if (a instanceof LeaseRules.Deadline d) {
        onDeadline.accept(d.deadline() - rules.marginNanos());
      } else if (a instanceof LeaseRules.CloseWatch) {
        watching = false;
      } else if (a instanceof LeaseRules.SendRelease r) {
        String t = token;
        sim.log(name, "releases lease " + leaseId + (r.reason() == null ? "" : " (" + r.reason() + ")"));
        net.<SimWire.Answer>call(host, broker.host, Sim.s(10), call -> broker.release(call, t, r.reason()), o -> { });
      }
    }
  }

  /** Opens the watch; no "open" within 3 s (a lost connect, a partition) counts as a broken stream. */
  private void openWatch() {
    LeaseRules mine = rules;
    String t = token;
    int attempt = ++watchAttempt;
    net.send(host, broker.host, () -> {
      if (broker.storeUp()) {
        broker.watch(host, t, msg -> {
          if (rules == mine) {
            watchEvent(msg);
          }
        });
      } else {
        net.send(broker.host, host, () -> watchEvent(new SimWire.WatchMsg("broken", "refused")));
      }
    });
    host.after(Sim.s(3), () -> {
      if (rules == mine && watching && attempt == watchAttempt && !watchOpen) {
        watchEvent(new SimWire.WatchMsg("broken", "no answer"));
      }
    });
    watchOpen = false;
  }

  private int watchAttempt;
  private boolean watchOpen;

  private void watchEvent(SimWire.WatchMsg msg) {
    if (!watching) {
      return;
    }
    switch (msg.type()) {
      case "open" -> {
        watchOpen = true;
        watchBackoff = Sim.millis(250);
      }
      case "revoked" -> handle(new LeaseRules.Revoked(sim.now(), EndReason.heard(msg.reason()),
          "revoked (" + msg.reason() + ")"));
      case "yield_requested" -> handle(new LeaseRules.YieldAsked(sim.now(), msg.reason()));
      case "ended" -> handle(new LeaseRules.Ended(sim.now(), EndReason.heard(msg.reason())));
      default -> {
        // The stream broke: open it again later, while the lease lives.
        watchOpen = false;
        long delay = watchBackoff;
        watchBackoff = Math.min(Sim.s(5), watchBackoff * 2);
        host.after(delay, () -> {
          if (watching) {
            openWatch();
          }
        });
      }
    }
  }
}
