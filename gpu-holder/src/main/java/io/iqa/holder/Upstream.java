package io.iqa.holder;

import io.iqa.holder.HolderRules.Phase;
import io.iqa.holder.HolderRules.Placement;
import io.vertx.core.json.JsonObject;
import java.util.function.Consumer;

/**
 * What uses the leased GPU for a {@link HolderLoop}, one worker ({@code gen}) at a time: the
 * sidecar's worker process, or a model server behind {@code iqa gpu serve}. Every call comes on
 * the loop's event loop; every worker launched ends with exactly one {@link HolderEvent.WorkerGone}
 * given to {@code events}.
 */
public interface Upstream {

  /** Starts (or wakes) worker {@code gen}; under a lease it must stop by {@code stopByNanos} on its own. */
  void launch(int gen, Placement where, Long stopByNanos, Consumer<HolderEvent> events);

  /** Worker {@code gen}: finish what runs, give the GPU back; forced after {@code withinMs}. */
  void stop(int gen, long withinMs);

  /** Worker {@code gen}: gone from the GPU now (SIGKILL), once launched if it is not yet. */
  void kill(int gen);

  /** A renew moved the time worker {@code gen} must stop by. */
  void stopBy(int gen, long stopByNanos);

  /** @return why worker {@code gen} stopped answering, or null while it answers */
  String hung(int gen, long heartbeatNanos, long jobNanos);

  /** The worker part of /health. */
  JsonObject health(Phase phase);
}
