package io.iqa.holder;

import io.iqa.protocol.wire.WireNames;
import io.iqa.holder.HolderRules.Phase;
import io.vertx.core.json.JsonObject;
import java.time.Instant;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where the {@link HolderLoop} stands: its {@link Phase}, why it entered it and since when. Each
 * change is logged once; /health shows all three.
 */
public final class HolderState {

  private static final Logger LOG = LoggerFactory.getLogger(HolderState.class);

  private Phase state = Phase.STARTING;
  private String reason = "starting";
  private Instant since = Instant.now();

  public void enter(Phase s, String why) {
    if (state != s || !why.equals(reason)) {
      LOG.info("state {}: {}", WireNames.of(s), why);
    }
    state = s;
    reason = why;
    since = Instant.now();
  }

  public Phase get() {
    return state;
  }

  /** @return {@code state}, {@code state_reason} and {@code state_since}, as /health shows them */
  public JsonObject toJson() {
    return new JsonObject()
        .put("state", WireNames.of(state))
        .put("state_reason", reason)
        .put("state_since", since.toString());
  }
}
