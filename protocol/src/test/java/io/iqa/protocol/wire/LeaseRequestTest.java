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

  /**
   * What the broker's OpenAPI document cannot say is checked here: the config's bounds on ttl and
   * wait. (Types, patterns and unknown fields: the document, BrokerOpenApiTest.)
   */
  @Test
  void theConfigsBoundsAreCheckedAndANullIsTheDefault() {
    assertRefused("ttl_s must be between 1 and 3600, not 7200", Map.of("owner", "a", "ttl_s", 7200));
    assertRefused("wait_s must be between 0 and 600, not -1", Map.of("owner", "a", "wait_s", -1));
    assertRefused("ttl_s must be between 1 and 3600, not Infinity", Map.of("owner", "a", "ttl_s",
        Double.POSITIVE_INFINITY));
    Map<String, Object> nul = new LinkedHashMap<>();
    nul.put("owner", "a");
    nul.put("purpose", null);
    nul.put("priority", null);
    nul.put("ttl_s", null);
    LeaseRequest read = LeaseRequest.fromMap(nul, 60, 3600, 600);
    assertEquals("", read.purpose());
    assertEquals(Priority.NORMAL, read.priority());
    assertEquals(60, read.ttlS());
  }

  private static void assertRefused(String expected, Map<String, ?> body) {
    WireFormatException e = assertThrows(WireFormatException.class, () -> LeaseRequest.fromMap(body, 60, 3600, 600));
    assertTrue(e.getMessage().startsWith(expected), e.getMessage());
  }
}
