package io.iqa.sidecar.cli;

import io.iqa.client.IqaException;
import io.iqa.client.Lease;
import io.iqa.client.LeaseClient;
import io.iqa.client.LeaseLoss;
import io.iqa.sidecar.model.ModelRegistry;
import io.iqa.sidecar.service.SidecarOptions;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The one-shot {@code score}'s GPU lease: taken when a broker is configured and the models would
 * run on CUDA, held while the images are scored, released after the models are closed. Without a
 * lease (busy, broker unreachable) the models run on CPU, unless {@code lease.required}.
 */
record OneShotLease(LeaseClient client, Lease lease, AtomicReference<LeaseLoss> loss) implements AutoCloseable {

  /** Holds {@code lease} of {@code client} (both null: none), hearing of its loss. */
  private static OneShotLease holding(LeaseClient client, Lease lease) {
    OneShotLease held = new OneShotLease(client, lease, new AtomicReference<>());
    if (lease != null) {
      lease.onLost(held.loss::set);
    }
    return held;
  }

  /**
   * Takes the lease the config asks for and points every model of {@code config} at the granted
   * GPU (or at the CPU when none came and none is required).
   * @throws IqaException when no lease came and {@code lease.required} is true
   */
  static OneShotLease take(JsonObject config, Path baseDir) {
    SidecarOptions options = SidecarOptions.read(config);
    if (!options.hasBroker() || !options.wantsGpu(ModelRegistry.check(config, baseDir))) {
      return holding(null, null);
    }
    LeaseClient client = new LeaseClient(options.broker().url(), options.broker().token(), 0);
    try {
      Lease lease = client.acquire(options.leaseRequest().withPurpose("iqa score (one-shot)"));
      config.mergeIn(ModelRegistry.placed(config, "cuda:" + lease.gpu()));
      System.err.println("score: GPU lease " + lease.id() + " on gpu " + lease.gpu());
      return holding(client, lease);
    } catch (IqaException e) {
      client.close();
      if (options.leaseRequired()) {
        throw new IqaException("no GPU lease (" + e.getMessage() + ") and lease.required is true", e);
      }
      System.err.println("score: no GPU lease (" + e.getMessage() + "); scoring on CPU");
      config.mergeIn(ModelRegistry.placed(config, "cpu"));
      return holding(null, null);
    }
  }

  /** @return why the lease was lost (stop starting model calls), or null while it holds */
  LeaseLoss lost() {
    return loss.get();
  }

  /** Releases the lease (confirming a revocation); call after the models are closed. */
  @Override
  public void close() {
    if (client != null) {
      lease.close();
      client.close();
    }
  }
}
