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
final class OneShotLease implements AutoCloseable {

  private final LeaseClient client;
  private final Lease lease;
  private final AtomicReference<LeaseLoss> lost = new AtomicReference<>();

  private OneShotLease(LeaseClient client, Lease lease) {
    this.client = client;
    this.lease = lease;
    if (lease != null) {
      lease.onLost(lost::set);
    }
  }

  /**
   * Takes the lease the config asks for and points every model of {@code config} at the granted
   * GPU (or at the CPU when none came and none is required).
   * @throws IqaException when no lease came and {@code lease.required} is true
   */
  static OneShotLease take(JsonObject config, Path baseDir) {
    SidecarOptions options = new SidecarOptions(config);
    if (!options.hasBroker() || !options.wantsGpu(ModelRegistry.check(config, baseDir))) {
      return new OneShotLease(null, null);
    }
    LeaseClient client = new LeaseClient(options.broker().getString("url"), options.broker().getString("token"), 0);
    try {
      Lease lease = client.acquire(options.leaseRequest().withPurpose("iqa score (one-shot)"));
      config.mergeIn(ModelRegistry.placed(config, "cuda:" + lease.gpu()));
      System.err.println("score: GPU lease " + lease.id() + " on gpu " + lease.gpu());
      return new OneShotLease(client, lease);
    } catch (IqaException e) {
      client.close();
      if (options.leaseRequired()) {
        throw new IqaException("no GPU lease (" + e.getMessage() + ") and lease.required is true", e);
      }
      System.err.println("score: no GPU lease (" + e.getMessage() + "); scoring on CPU");
      config.mergeIn(ModelRegistry.placed(config, "cpu"));
      return new OneShotLease(null, null);
    }
  }

  /** @return why the lease was lost (stop starting model calls), or null while it holds */
  LeaseLoss lost() {
    return lost.get();
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
