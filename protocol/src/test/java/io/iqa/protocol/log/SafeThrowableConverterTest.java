package io.iqa.protocol.log;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.spi.ThrowableProxy;
import org.junit.jupiter.api.Test;

class SafeThrowableConverterTest {

  @Test
  void everyMessageOfTheChainIsEscapedAndTheFramesKeepTheirLines() {
    IllegalStateException e = new IllegalStateException("bad \"x\r\nFORGED line\"",
        new IllegalArgumentException("cause \u001b[2J"));
    e.addSuppressed(new RuntimeException("suppressed\nFORGED too"));
    SafeThrowableConverter converter = new SafeThrowableConverter();
    converter.start();

    String text = converter.throwableProxyToString(new ThrowableProxy(e));

    assertTrue(text.contains("bad \"x\\u000d\\u000aFORGED line\""), text);
    assertTrue(text.contains("cause \\u001b[2J"), text);
    assertTrue(text.contains("suppressed\\u000aFORGED too"), text);
    assertFalse(text.lines().anyMatch(l -> l.startsWith("FORGED")), text);
    assertTrue(text.lines().anyMatch(l -> l.contains("at io.iqa.protocol.log.SafeThrowableConverterTest.")), text);
    assertTrue(text.contains("Caused by: java.lang.IllegalArgumentException"), text);
  }
}
