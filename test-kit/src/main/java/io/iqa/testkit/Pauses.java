package io.iqa.testkit;

/** The short sleep of a polling test helper; an interrupt fails the test. */
public final class Pauses {

  private Pauses() {
  }

  public static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }
}
