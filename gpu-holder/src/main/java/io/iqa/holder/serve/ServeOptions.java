package io.iqa.holder.serve;

import io.iqa.protocol.wire.LeaseRequest;
import java.net.URI;
import java.util.List;

/**
 * What {@code iqa gpu serve} was told: where it listens, the model server behind it, its adapter,
 * the lease it takes and the bounds of each step.
 *
 * @param listenHost where clients reach the front (127.0.0.1 unless configured)
 * @param listenPort 0 for any free port
 * @param upstream the model server's base URL
 * @param adapter {@link Adapter#NAMES}
 * @param health the path that answers 2xx once the server serves
 * @param idleReleaseS release (and sleep) after this long without a request; 0 never
 * @param queueLimit requests that may wait for the server; beyond it 503 with Retry-After
 * @param wakeTimeoutS how long a start or wake may take before the requests waiting fail
 * @param sleepTimeoutS how long a sleep (and the memory check after it) may take before the server is stopped
 * @param drainTimeoutS how long requests in flight may run after a yield or idle release
 * @param graceS after SIGTERM, SIGKILL when it has not exited within this long
 * @param residueMb what may stay on the GPU while asleep (null: the adapter's default)
 * @param request the lease to ask for (yieldable)
 * @param command the server's command, started on the leased GPU (empty: the server is run by someone else)
 */
public record ServeOptions(String listenHost, int listenPort, URI upstream, String adapter, int vllmLevel,
    String health, long idleReleaseS, int queueLimit, double wakeTimeoutS, double sleepTimeoutS, double drainTimeoutS,
    double graceS, Integer residueMb, String brokerUrl, String token, LeaseRequest request, List<String> command) {

  public String name() {
    return command.isEmpty() ? "the model server at " + upstream : command.get(0);
  }

  long wakeTimeoutMs() {
    return Math.round(wakeTimeoutS * 1000);
  }

  long sleepTimeoutMs() {
    return Math.round(sleepTimeoutS * 1000);
  }

  long graceMs() {
    return Math.round(graceS * 1000);
  }

  int residueMb(Adapter a) {
    return residueMb != null ? residueMb : a.residueMb();
  }
}
