package io.iqa.simulator;

import io.iqa.simulator.SimWire.*;
import io.iqa.broker.gpu.GpuDevice;
import io.iqa.broker.lease.Reaper;
import io.iqa.broker.lease.Waiters;
import io.iqa.broker.store.AcquireRequest;
import io.iqa.broker.store.AcquireResult;
import io.iqa.broker.store.ForceReleaseSelector;
import io.iqa.broker.store.Lease;
import io.iqa.broker.store.LeaseEvent;
import io.iqa.broker.store.RestoreRule;
import io.iqa.broker.store.StoreClock;
import io.iqa.broker.store.StoreException;
import io.iqa.broker.store.StoreListener;
import io.iqa.broker.store.StoreSettings;
import io.iqa.broker.store.StoreSnapshot;
import io.iqa.broker.store.memory.MemoryLeaseStore;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * The lease broker in the simulation: the real memory store ({@link MemoryLeaseStore} with its state
 * file in {@link SimJournalFile}), the real long-poll {@link Waiters} and {@link Reaper} on the
 * virtual clock; the HTTP layer is thin here (what {@code LeaseApi} and {@code WatchApi} do, on
 * {@link Net} calls). It crashes (kill -9: every call it holds breaks) and restarts with its state
 * file as a crash, a torn write, a power loss or a full disk left it, on a new monotonic clock and a
 * wall clock that may have stepped.
 */
final class SimBroker {

  final Host host;
  private final Sim sim;
  private final Net net;
  private final Ledger ledger;
  private final Processes processes;
  final SimJournalFile file;
  private final StoreSettings settings;
  private final RestoreRule restoreRule;
  private final long reaperNanos;
  private MemoryLeaseStore store;
  private Waiters waiters;
  private long monoBase;
  private long wallOffset;
  private final Set<Net.Call<?>> held = new LinkedHashSet<>();
  private final SimWatches watches;
  private final Map<String, Long> ttls = new HashMap<>();
  private boolean storeUp;
  private long nextToken;
  long recoveringUntil;

  SimBroker(Sim sim, Net net, Ledger ledger, Processes processes, StoreSettings settings, RestoreRule restoreRule,
      long reaperNanos) {
    this.sim = sim;
    this.host = new Host(sim, "broker");
    this.net = net;
    this.watches = new SimWatches(net, host);
    this.ledger = ledger;
    this.processes = processes;
    this.file = new SimJournalFile(sim);
    this.settings = settings;
    this.restoreRule = restoreRule;
    this.reaperNanos = reaperNanos;
    this.monoBase = sim.ms(0, 1e9);
    this.wallOffset = Sim.s(1_800_000_000) + sim.ms(0, 1e6);
  }

  /** The broker's own clocks: monotonic from its start, wall from the host's (which may step). */
  private StoreClock clock() {
    long base = monoBase;
    return new StoreClock(() -> (sim.now() + base) / 1_000_000, () -> (sim.now() + wallOffset) / 1_000_000);
  }

  /** The host's wall clock steps by {@code nanos} (NTP, an operator): only wall time moves. */
  void stepWallClock(long nanos) {
    wallOffset += nanos;
    sim.log("broker", "the wall clock steps by " + nanos / 1_000_000_000 + " s");
  }

  void start() {
    host.up = true;
    Set<Long> before = new HashSet<>(ttlLeases.keySet());
    MemoryLeaseStore s = new MemoryLeaseStore(settings, clock(), file, restoreRule);
    io.vertx.core.Future<Void> started = s.start(List.of(new GpuDevice(0, 0)), listener());
    if (started.failed()) {
      sim.log("broker", "start failed: " + started.cause().getMessage() + "; the supervisor restarts it in 1 s");
      host.die();
      sim.after(Sim.s(1), this::start);
      return;
    }
    store = s;
    storeUp = true;
    waiters = new Waiters(new SimTimers(host, () -> sim.now() + monoBase), store);
    StoreSnapshot snap = store.snapshot().result();
    recoveringUntil = snap.recoveringUntil() == null ? 0 : sim.now() + settings.recoveryGraceMs() * 1_000_000L;
    Set<Long> restored = new HashSet<>();
    snap.leases().forEach(l -> restored.add(l.leaseId()));
    for (long id : before) {
      if (!restored.contains(id)) {
        // Forgotten: nobody else can be granted the GPU before the recovery grace ends.
        ledger.handedOn(id, recoveringUntil > 0 ? recoveringUntil : sim.now());
        ttlLeases.remove(id);
      }
    }
    sim.log("broker", "started: " + restored.size() + " lease(s) restored" + (recoveringUntil > 0
        ? ", recovering for " + settings.recoveryGraceMs() + " ms" : ""));
    reap();
    sample();
  }

  /** Lease ids alive in the store, for what a restart forgets. */
  private final Map<Long, Long> ttlLeases = new HashMap<>();

  private StoreListener listener() {
    return new StoreListener() {
      @Override
      public void onEvent(LeaseEvent e, boolean local) {
        if (e.leaseId() == 0) {
          return;
        }
        if (e.revokes() && !Boolean.TRUE.equals(e.immediate())) {
          ledger.revoked(e.leaseId());
        }
        if (e.freesCapacity()) {
          ledger.handedOn(e.leaseId(), sim.now());
          ttlLeases.remove(e.leaseId());
        }
        sim.log("broker", e.type().wireName() + " lease " + e.leaseId() + " (" + e.owner() + ")"
            + (e.reason() == null ? "" : ": " + e.reason()));
        watches.tell(e);
      }

      @Override
      public void onWake(int gpu) {
        if (waiters != null) {
          waiters.wake(gpu);
        }
      }
    };
  }

  /** kill -9: every call it holds breaks, every watch stream ends, the state file is what it is. */
  void crash() {
    sim.log("broker", "killed");
    host.die();
    storeUp = false;
    List<Net.Call<?>> calls = new ArrayList<>(held);
    held.clear();
    calls.forEach(Net.Call::reset);
    watches.breakAll();
    store = null;
    waiters = null;
  }

  /** Starts again after a crash, on a new monotonic clock. */
  void restart() {
    monoBase = sim.ms(0, 1e12);
    start();
  }

  private void reap() {
    host.after(reaperNanos, () -> {
      if (storeUp) {
        Reaper.reap(store, waiters.ids(), l -> l.pid() != null && processes.gone(l.pid(), l.pidIdentity())
            && !ledger.inUse(l.leaseId()));
        reap();
      }
    });
  }

  /**
   * Every 100 ms: a device with no lease and a waiter must be granted within a bound, unless no
   * grant can be made: during a recovery grace, or while the disk is full (a grant not recorded is
   * not made).
   */
  private void sample() {
    host.after(Sim.millis(100), () -> {
      if (storeUp) {
        StoreSnapshot s = store.snapshot().result();
        ledger.sampleDevice(s.leases().isEmpty(), !s.waiting().isEmpty(), s.recoveringUntil() == null && !file.full(),
            Sim.s(1.5));
        sample();
      }
    });
  }

  // ---- the API ----

  void acquire(Net.Call<Grant> call, Ask ask, String identity, String waiterKey) {
    long arrival = sim.now() + monoBase;
    String token = "t" + nextToken++;
    AcquireRequest r = new AcquireRequest(ask.owner(), "sim", token, ask.ttlMs(), null, null, ask.priority(),
        ask.pid(), identity, "sim", ask.waitMs(), ask.yieldable(), false);
    String waiterId = ask.waitMs() > 0 ? waiterKey : null;
    held.add(call);
    store.acquire(r, waiterId).onComplete(first -> {
      if (first.failed()) {
        held.remove(call);
        call.answer(new Grant(null, 0, 0, 0, 0, "503 " + first.cause().getMessage()));
        return;
      }
      if (first.result() instanceof AcquireResult.Granted g) {
        held.remove(call);
        answerGrant(call, token, g.lease(), arrival, arrival);
        return;
      }
      if (waiterId == null) {
        held.remove(call);
        call.answer(new Grant(null, 0, 0, 0, 0, "409 gpu_busy"));
        return;
      }
      Waiters w = waiters;
      w.await(waiterId, r, ask.waitMs(), (AcquireResult.Busy) first.result()).onComplete(ar -> {
        held.remove(call);
        if (ar.succeeded() && ar.result().result() instanceof AcquireResult.Granted g) {
          answerGrant(call, token, g.lease(), arrival, ar.result().startedNanos());
        } else {
          call.answer(new Grant(null, 0, 0, 0, 0, ar.succeeded() ? "409 gpu_busy" : "abandoned"));
        }
      });
    });
  }

  private void answerGrant(Net.Call<Grant> call, String token, Lease lease, long arrival, long attemptStarted) {
    ledger.granted(lease.leaseId(), lease.ttlMs() * 1_000_000L);
    ttlLeases.put(lease.leaseId(), lease.ttlMs());
    call.answer(new Grant(token, lease.leaseId(), lease.gpu(), lease.ttlMs(), Math.max(0,
        (attemptStarted - arrival) / 1_000_000), null));
  }

  /** The client of a waiting request went away: it leaves the queue (a grant that races it is released). */
  void abandon(String waiterKey) {
    if (storeUp) {
      waiters.abandon(waiterKey);
    }
  }

  void renew(Net.Call<Answer> call, String token) {
    store.renew(token, null, null).onComplete(ar -> call.answer(ar.succeeded()
        ? new Answer(true, null, false, ar.result().ttlMs()) : failure(ar.cause())));
  }

  void release(Net.Call<Answer> call, String token, String reason) {
    store.release(token, null, reason).onComplete(ar -> call.answer(ar.succeeded()
        ? new Answer(true, null, false, 0) : failure(ar.cause())));
  }

  private static Answer failure(Throwable e) {
    if (e instanceof StoreException se && se.kind() == StoreException.Kind.UNKNOWN_LEASE) {
      return new Answer(false, "unknown_lease", false, 0);
    }
    if (e instanceof StoreException se && se.kind() == StoreException.Kind.LEASE_LOST) {
      return new Answer(false, se.reason().wireName(), false, 0);
    }
    return new Answer(false, null, true, 0);
  }

  /** GET /v1/gpu/lease/watch: the lease's state now, then what happens to it. */
  void watch(Host client, String token, Consumer<WatchMsg> sink) {
    store.lookup(token).onComplete(ar -> {
      if (ar.failed()) {
        Answer a = failure(ar.cause());
        if (!a.unavailable()) {
          net.send(host, client, () -> sink.accept(new WatchMsg("ended", a.lost())));
        }
        return;
      }
      Lease l = ar.result();
      watches.add(l.leaseId(), client, sink);
      net.send(host, client, () -> sink.accept(new WatchMsg("open", null)));
      if (l.revoking()) {
        net.send(host, client, () -> sink.accept(new WatchMsg("revoked", l.revoked().wireName())));
      } else if (l.yieldRequestedAt() != null) {
        net.send(host, client, () -> sink.accept(new WatchMsg("yield_requested", "a waiter wants the GPU")));
      }
    });
  }

  /** An operator (or another program) force-releases {@code owner}'s leases. */
  void forceRelease(String owner) {
    if (storeUp) {
      store.forceRelease(new ForceReleaseSelector(null, owner, null, null, "ops", "simulated force-release", false));
    }
  }

  boolean storeUp() {
    return storeUp;
  }
}
