package io.iqa.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The one reader of /proc, on this host's real processes. */
class ProcsTest {

  @Test
  void aStatLineIsReadAfterTheLastParenthesisWhateverTheCommandNameHolds() {
    String line = "4242 (a (b) c) d) S 17 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
    Procs.Stat stat = Procs.parseStat(line);
    assertEquals('S', stat.state());
    assertEquals(17, stat.ppid());
    assertEquals(4242, stat.pgrp());
    assertEquals(987654, stat.startTicks());
    assertTrue(stat.running());
    assertFalse(Procs.parseStat(line.replace(") S ", ") Z ")).running(), "a zombie does not run");
    assertThrows(IllegalArgumentException.class, () -> Procs.parseStat("4242 (cut"));
    assertThrows(IllegalArgumentException.class, () -> Procs.parseStat("4242 (short) S 1 2"));
  }

  @Test
  void aRealChildIsSeenWithItsGroupAndEnvironmentAndIsGoneOnceReaped() throws Exception {
    assumeTrue(Procs.available(), "needs /proc");
    ProcessBuilder pb = new ProcessBuilder("sleep", "30");
    pb.environment().put("PROCS_TEST_MARK", "x=1 y");
    Process child = pb.start();
    try {
      assertTrue(Procs.pids().contains(child.pid()));
      assertTrue(Procs.running(child.pid()));
      Procs.Stat stat = Procs.stat(child.pid()).orElseThrow();
      assertEquals(ProcessHandle.current().pid(), stat.ppid());
      assertEquals("x=1 y", Procs.env(child.pid(), "PROCS_TEST_MARK"));
      assertNull(Procs.env(child.pid(), "PROCS_TEST_MAR"), "a name is matched whole");
      assertEquals("sleep 30", Procs.commandLine(child.pid()));
    } finally {
      child.destroyForcibly();
      child.waitFor(10, TimeUnit.SECONDS);
    }
    assertFalse(Procs.running(child.pid()));
    assertTrue(Procs.stat(Long.MAX_VALUE / 2).isEmpty());
    assertTrue(Procs.bootId() != null && !Procs.bootId().isBlank());
  }
}
