package io.iqa.protocol.wire;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The lease request body: what a client sends is what the broker reads, and every bad field is named. */
class LeaseRequestTest {

  @Test
  void whatTheClientSendsTheBrokerReadsBack() {
    LeaseRequest sent = LeaseRequest.of("llm").withPurpose("night batch").withTtl(30).withWait(5).withGpu(1)
        .withVramMb(4096).withPriority(Priority.HIGH).withPid(4242L).withHost("box-1").withYield(true)
        .withPreempt(true);
    assertEquals(sent, LeaseRequest.fromMap(sent.toMap(), 60, 3600, 600));

    Map<String, Object> minimal = LeaseRequest.of("batch").withPid(null).toMap();
    assertFalse(minimal.containsKey("pid") || minimal.containsKey("yield") || minimal.containsKey("gpu"));
    LeaseRequest read = LeaseRequest.fromMap(Map.of("owner", "batch"), 45, 3600, 600);
    assertEquals(45, read.ttlS());
    assertEquals(0, read.waitS());
    assertEquals(Priority.NORMAL, read.priority());
    assertNull(read.pid());
  }

  @Test
  void everyBrokenFieldIsNamed() {
    assertRefused("owner is required", Map.of());
    assertRefused("owner must be 1 to 64 letters", Map.of("owner", "a b"));
    assertRefused("unknown field 'gpus'", Map.of("owner", "a", "gpus", 1));
    assertRefused("priority must be low, normal or high, not \"urgent\"", Map.of("owner", "a", "priority", "urgent"));
    assertRefused("ttl_s must be between 1 and 3600, not 7200", Map.of("owner", "a", "ttl_s", 7200));
    assertRefused("wait_s must be between 0 and 600, not -1", Map.of("owner", "a", "wait_s", -1));
    assertRefused("gpu must be a whole number", Map.of("owner", "a", "gpu", 0.5));
    assertRefused("yield must be true or false", Map.of("owner", "a", "yield", "yes"));
    Map<String, Object> nul = new LinkedHashMap<>();
    nul.put("owner", "a");
    nul.put("purpose", null);
    assertEquals("", LeaseRequest.fromMap(nul, 60, 3600, 600).purpose());
  }

  private static void assertRefused(String expected, Map<String, ?> body) {
    WireFormatException e = assertThrows(WireFormatException.class, () -> LeaseRequest.fromMap(body, 60, 3600, 600));
    assertTrue(e.getMessage().startsWith(expected), e.getMessage());
  }
}
