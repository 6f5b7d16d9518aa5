package io.iqa.simulator;

import java.util.function.Consumer;

/**
 * The simulated network between the programs and the broker: every message takes its own delay
 * (mostly a few ms, now and then hundreds; so messages overtake each other), a few are lost, and a
 * host cut off from the others neither sends nor receives. A call is a request and its answer, each
 * one message; the caller gives up after its timeout, as an HTTP client does, and hears at once when
 * the server's process dies while it holds the call.
 */
record Net(Sim sim, double loss, double slow) {

  /** @return one message's delay */
  long delay() {
    return sim.chance(slow) ? sim.ms(100, 1500) : sim.ms(0.1, 8);
  }

  /** Sends one message from {@code from} to {@code to}: delivered there later, or never. */
  void send(Host from, Host to, Runnable deliver) {
    if (from.cut() || sim.chance(loss)) {
      return;
    }
    sim.after(delay(), () -> {
      if (!to.cut()) {
        to.run(deliver);
      }
    });
  }

  /** The outcome of a call as the caller sees it: the answer, or why none came. */
  record Outcome<T>(T answer, String failure) {
    boolean ok() {
      return failure == null;
    }
  }

  /** A call as the server holds it: it answers once, or its connection breaks. */
  final class Call<T> {
    private final Host caller;
    private final Host server;
    private final Consumer<Outcome<T>> done;
    private final int serverEpoch;
    private boolean over;

    private Call(Host caller, Host server, Consumer<Outcome<T>> done) {
      this.caller = caller;
      this.server = server;
      this.done = done;
      this.serverEpoch = server.epoch;
    }

    void answer(T answer) {
      if (over || server.epoch != serverEpoch) {
        return; // the process that held it is gone: its answer never left
      }
      over = true;
      send(server, caller, () -> done.accept(new Outcome<>(answer, null)));
    }

    /** The server's process died holding this call: the caller's connection resets. */
    void reset() {
      if (over) {
        return;
      }
      over = true;
      sim.after(delay(), () -> caller.run(() -> done.accept(new Outcome<>(null, "connection reset"))));
    }
  }

  /**
   * {@code caller} calls {@code server}: {@code handle} runs there with the call to answer; the
   * answer (or a timeout, or a refused connection when the server is down) reaches {@code done} in
   * the caller, once.
   */
  <T> void call(Host caller, Host server, long timeoutNanos, Consumer<Call<T>> handle, Consumer<Outcome<T>> done) {
    boolean[] finished = {false};
    Consumer<Outcome<T>> once = o -> {
      if (!finished[0]) {
        finished[0] = true;
        done.accept(o);
      }
    };
    caller.after(timeoutNanos, () -> once.accept(new Outcome<>(null, "timed out")));
    if (caller.cut() || sim.chance(loss)) {
      return;
    }
    sim.after(delay(), () -> {
      if (server.cut()) {
        return;
      }
      if (!server.up) {
        sim.after(delay(), () -> caller.run(() -> once.accept(new Outcome<>(null, "connection refused"))));
        return;
      }
      server.run(() -> handle.accept(new Call<>(caller, server, once)));
    });
  }
}
