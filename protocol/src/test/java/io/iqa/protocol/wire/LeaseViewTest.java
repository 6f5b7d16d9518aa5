package io.iqa.protocol.wire;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class LeaseViewTest {

  private static final Instant T = Instant.parse("2026-11-23T20:00:00Z");

  @Test
  void aHoldersViewReadsBackWithItsTokenAndAPublicViewHasNone() {
    LeaseView holder = new LeaseView(42, LeaseState.HELD, 0, "llm", "chat", 24_000, true, Priority.HIGH, true, 4242L,
        "gpu-host", null, null, T, T.plusSeconds(60), 60.0, null, null, null, null, null, 25_000L).withToken("secret");
    Map<String, Object> wire = holder.toMap();
    assertEquals(holder, LeaseView.fromMap(wire));
    assertEquals("high", wire.get("priority"));
    assertEquals("held", wire.get("state"));
    assertEquals(25_000L, ((Number) wire.get("queued_ms")).longValue(), "the grant says how long the broker held the request");
    LeaseView seen = new LeaseView(42, LeaseState.REVOKING, 0, "llm", "chat", 24_000, true, Priority.HIGH, true, null,
        null, 12.5, 0.0, T, T.plusSeconds(60), null, null, "force_released", T.plusSeconds(10), null, 9000, null);
    Map<String, Object> shown = seen.toMap();
    assertFalse(shown.containsKey("token"));
    assertTrue(shown.containsKey("pid") && shown.get("pid") == null, "pid and host are always written");
    assertEquals(seen, LeaseView.fromMap(shown));
  }

  @Test
  void readsWhatANewerBrokerSendsWithoutFailing() {
    Map<String, Object> wire = new LinkedHashMap<>();
    wire.put("lease_id", 7);
    wire.put("state", "some_future_state");
    wire.put("gpu", 1);
    wire.put("owner", "x");
    wire.put("priority", "urgent");
    wire.put("a_new_field", true);
    LeaseView v = LeaseView.fromMap(wire);
    assertEquals(7, v.leaseId());
    assertEquals(LeaseState.HELD, v.state());
    assertEquals(Priority.NORMAL, v.priority());
    assertNull(v.token());
  }
}
