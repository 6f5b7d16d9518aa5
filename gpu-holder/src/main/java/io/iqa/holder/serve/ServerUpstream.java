package io.iqa.holder.serve;

import io.iqa.holder.HolderEvent;
import io.iqa.holder.HolderLease;
import io.iqa.holder.HolderRules.Phase;
import io.iqa.holder.HolderRules.Placement;
import io.iqa.holder.Upstream;
import io.iqa.protocol.Text;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.time.Instant;
import java.util.List;
import java.util.Objects;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A model server as the {@link Upstream} of {@code iqa gpu serve}'s holder lifecycle. Launching a
 * worker wakes the server (its adapter's wake, then its health) or starts its command on the leased
 * GPU only; stopping one puts it to sleep through the adapter and then checks that its GPU memory
 * really fell ({@link GpuMemory}); the worker is "gone" once it has. A server that does not sleep in
 * time, a plain server ({@code restart}), a lease lost or the holder's own deadline passed: its
 * process group gets SIGTERM, then SIGKILL, and it is gone once every process of it has exited.
 * Runs on the front's event loop.
 */
final class ServerUpstream implements Upstream {

  private static final Logger LOG = LoggerFactory.getLogger(ServerUpstream.class);

  private final Vertx vertx;
  private final ServeOptions options;
  private final Adapter adapter;
  private final UpstreamHttp http;
  private final HolderLease lease;
  private final GpuMemory memory;
  private Consumer<HolderEvent> events;
  private int gen;
  private int goneGen;
  /** The worker the process serves now (0: none; asleep or stopped). */
  private int awakeGen;
  private boolean killAsked;
  private final ServedProcess proc;
  private boolean asleep;
  /** The model server's state, as {@code /health} shows it ({@code upstream.state}). */
  enum State implements io.iqa.protocol.wire.WireEnum { STOPPED, STARTING, WAKING, AWAKE, FALLING_ASLEEP, ASLEEP, STOPPING }

  private State state = State.STOPPED;
  private long deadlineTimer = -1;
  private Long lastWakeMs;
  private Long lastSleepMs;
  private GpuMemory.Seen lastSeen;
  private String lastTrouble;

  ServerUpstream(Vertx vertx, ServeOptions options, Adapter adapter, HolderLease lease) {
    this.vertx = vertx;
    this.options = options;
    this.adapter = adapter;
    this.http = new UpstreamHttp(vertx, options.upstream());
    this.lease = lease;
    this.memory = new GpuMemory(vertx, options.brokerUrl(), options.token());
    this.proc = new ServedProcess(vertx, options, adapter.env(), this::exited);
  }

  UpstreamHttp http() {
    return http;
  }

  @Override
  public void launch(int gen, Placement where, Long stopByNanos, Consumer<HolderEvent> events) {
    this.events = events;
    this.gen = gen;
    this.killAsked = false;
    long t0 = System.nanoTime();
    Integer gpu = lease.gpu();
    Future<Void> up;
    if (proc.alive() && asleep && adapter.sleeps() && Objects.equals(proc.gpu(), gpu)) {
      state = State.WAKING;
      awakeGen = gen;
      up = adapter.wake(vertx, http, options.wakeTimeoutMs()).compose(v -> healthy(t0));
    } else if (!proc.ours() && options.command().isEmpty()) {
      state = asleep ? State.WAKING : State.STARTING;
      up = (asleep ? adapter.wake(vertx, http, options.wakeTimeoutMs()) : Future.<Void>succeededFuture())
          .compose(v -> healthy(t0));
    } else {
      state = State.STARTING;
      up = proc.stop(options.graceMs()).compose(v -> {
        awakeGen = gen;
        return proc.start(lease.workerEnv(), gpu).onSuccess(started -> asleep = false);
      }).compose(v -> healthy(t0));
    }
    if (stopByNanos != null) {
      stopBy(gen, stopByNanos);
    }
    up.onComplete(ar -> {
      if (gen != this.gen || goneGen >= gen) {
        return;
      }
      if (killAsked) {
        terminate(gen, "SIGKILL", "killed while it started");
        return;
      }
      long ms = (System.nanoTime() - t0) / 1_000_000;
      if (ar.succeeded()) {
        asleep = false;
        state = State.AWAKE;
        lastWakeMs = ms;
        LOG.info("{} is awake on gpu {} after {} ms", options.name(), gpu, ms);
        events.accept(new HolderEvent.WorkerReady(System.nanoTime(), gen, ms));
      } else {
        lastTrouble = ar.cause().getMessage();
        events.accept(new HolderEvent.WorkerFailed(System.nanoTime(), gen, Text.printable(lastTrouble)));
      }
    });
  }

  /** Polls the server's health until it answers 2xx; fails if the process exits first or the wake timeout passes. */
  private Future<Void> healthy(long t0) {
    Process p = proc.current();
    long left = Math.max(1, options.wakeTimeoutMs() - (System.nanoTime() - t0) / 1_000_000);
    return Adapter.poll(vertx, left, options.health() + " to answer 2xx", () -> {
      if (p != null && !p.isAlive()) {
        return Future.failedFuture(new Adapter.Unsupported(options.name() + " exited with code " + p.exitValue()
            + " before it was healthy"));
      }
      return http.get(options.health(), 5000).map(UpstreamHttp.Reply::ok).otherwise(false);
    });
  }

  @Override
  public void stop(int gen, long withinMs) {
    if (gen != this.gen || goneGen >= gen) {
      return;
    }
    if (!adapter.sleeps()) {
      terminate(gen, "SIGTERM", "stopping it (adapter restart)");
      return;
    }
    sleep(gen, withinMs);
  }

  /**
   * @param withinMs the rules' bound (what is left of the drain's, or of a revoked lease's own
   *     deadline): the sleep and its memory check get at most that, else the server is stopped
   */
  private void sleep(int gen, long withinMs) {
    state = State.FALLING_ASLEEP;
    long t0 = System.nanoTime();
    long timeout = Math.max(1, Math.min(options.sleepTimeoutMs(), withinMs));
    adapter.sleep(vertx, http, timeout)
        .compose(v -> memory.awaitAtMost(lease.id() == null ? -1 : lease.id(), lease.gpu() == null ? 0 : lease.gpu(),
            options.residueMb(adapter), Instant.now(), Math.max(1, timeout - (System.nanoTime() - t0) / 1_000_000)))
        .onComplete(ar -> {
          if (gen != this.gen || goneGen >= gen) {
            return;
          }
          if (ar.succeeded()) {
            lastSleepMs = (System.nanoTime() - t0) / 1_000_000;
            lastSeen = ar.result();
            asleep = true;
            state = State.ASLEEP;
            LOG.info("{} is asleep after {} ms ({})", options.name(), lastSleepMs, lastSeen.how());
            gone(gen, 0, "asleep");
            return;
          }
          lastTrouble = ar.cause().getMessage();
          if (ar.cause() instanceof Adapter.Unsupported) {
            LOG.info("{}: {}; restarting it instead", options.name(), lastTrouble);
          } else {
            LOG.warn("{} did not go to sleep: {}; stopping it before the lease is released", options.name(),
                Text.printable(lastTrouble));
          }
          if (proc.ours()) {
            terminate(gen, "SIGTERM", "it did not sleep");
          } else {
            // Not ours to stop: the lease stays held (nobody else gets a GPU it may still use) and the sleep is tried again.
            LOG.error("{} is not a process this front started and it did not free the GPU; keeping the lease and "
                + "asking again in 5 s", options.name());
            vertx.setTimer(5000, t -> {
              if (gen == this.gen && goneGen < gen) {
                sleep(gen, options.sleepTimeoutMs());
              }
            });
          }
        });
  }

  @Override
  public void kill(int gen) {
    if (gen != this.gen || goneGen >= gen) {
      return;
    }
    killAsked = true;
    if (proc.alive()) {
      terminate(gen, "SIGKILL", "killed");
    } else if (state != State.STARTING && state != State.WAKING) {
      if (!proc.ours() && !options.command().isEmpty()) {
        gone(gen, 0, "no process");
      } else if (!proc.ours()) {
        sleep(gen, options.sleepTimeoutMs()); // someone else's server: asleep is the most the front can make of it
      }
    }
    // Starting or waking: the launch's end sees killAsked.
  }

  @Override
  public void stopBy(int gen, long stopByNanos) {
    if (deadlineTimer >= 0) {
      vertx.cancelTimer(deadlineTimer);
    }
    long inMs = Math.max(1, (stopByNanos - System.nanoTime()) / 1_000_000);
    deadlineTimer = vertx.setTimer(inMs, t -> {
      deadlineTimer = -1;
      if (gen == this.gen && goneGen < gen && !asleep) {
        LOG.error("{}: the lease's own deadline passed with no renew; stopping it now", options.name());
        if (proc.ours()) {
          terminate(gen, "SIGKILL", "the lease's deadline passed");
        }
      }
    });
  }

  /** Signals the process group; the worker is gone once every process of it has exited. */
  private void terminate(int gen, String how, String why) {
    if (!proc.alive()) {
      proc.killLeftovers();
      proc.familyGone().onComplete(ar -> gone(gen, 0, why));
      return;
    }
    state = State.STOPPING;
    proc.signal(how.equals("SIGKILL"), why);
    // exited() reports it.
  }

  private void exited(int code) {
    asleep = false;
    state = State.STOPPED;
    int served = gen;
    if (awakeGen == served && goneGen < served) {
      proc.familyGone().onComplete(ar -> gone(served, 0, "exited with code " + code));
    }
  }

  private void gone(int gen, int code, String why) {
    if (goneGen >= gen || gen != this.gen || events == null) {
      return;
    }
    goneGen = gen;
    awakeGen = 0;
    if (deadlineTimer >= 0) {
      vertx.cancelTimer(deadlineTimer);
      deadlineTimer = -1;
    }
    events.accept(new HolderEvent.WorkerGone(System.nanoTime(), gen, code, why));
  }

  /** Stops the process the front started (at its shutdown), whatever it does; completes once it has exited. */
  Future<Void> stopProcess(long graceMs) {
    return proc.stop(graceMs);
  }

  @Override
  public String hung(int gen, long heartbeatNanos, long jobNanos) {
    return null; // a model server's requests are its own business; the drain bounds them
  }

  @Override
  public JsonObject health(Phase phase) {
    JsonObject h = new JsonObject().put("state", state.wireName()).put("adapter", adapter.name())
        .put("upstream", options.upstream().toString());
    if (proc.ours()) {
      h.put("pid", proc.current().pid());
    }
    if (lastWakeMs != null) {
      h.put("last_wake_ms", lastWakeMs);
    }
    if (lastSleepMs != null) {
      h.put("last_sleep_ms", lastSleepMs);
    }
    if (lastSeen != null) {
      h.put("asleep_vram_mb", lastSeen.observedMb()).put("sleep_verified", lastSeen.verified())
          .put("sleep_check", lastSeen.how());
    }
    h.put("residue_mb", options.residueMb(adapter));
    if (lastTrouble != null) {
      h.put("last_trouble", Text.printable(lastTrouble));
    }
    return h;
  }

  void close() {
    http.close();
    memory.close();
  }

  List<String> command() {
    return options.command();
  }
}
