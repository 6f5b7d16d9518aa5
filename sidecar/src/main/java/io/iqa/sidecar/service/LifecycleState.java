package io.iqa.sidecar.service;

import io.iqa.protocol.wire.WireNames;
import io.iqa.sidecar.service.SidecarRules.Phase;
import io.vertx.core.json.JsonObject;
import java.time.Instant;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where the {@link Lifecycle} stands: its {@link Phase}, why it entered it and since when. Each
 * change is logged once; /health shows all three.
 */
final class LifecycleState {

  private static final Logger LOG = LoggerFactory.getLogger(LifecycleState.class);

  private Phase state = Phase.STARTING;
  private String reason = "starting";
  private Instant since = Instant.now();

  void enter(Phase s, String why) {
    if (state != s || !why.equals(reason)) {
      LOG.info("state {}: {}", WireNames.of(s), why);
    }
    state = s;
    reason = why;
    since = Instant.now();
  }

  Phase get() {
    return state;
  }

  /** @return {@code state}, {@code state_reason} and {@code state_since}, as /health shows them */
  JsonObject toJson() {
    return new JsonObject()
        .put("state", WireNames.of(state))
        .put("state_reason", reason)
        .put("state_since", since.toString());
  }
}
