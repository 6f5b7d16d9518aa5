package io.iqa.protocol.wire;

/**
 * Waiting priority of a lease request, by name on the wire and in every store. A higher rank is
 * served first; aging raises a waiter's rank over time.
 */
public enum Priority implements WireEnum {
  LOW, NORMAL, HIGH;

  /** @return its rank: the order above (low 0, normal 1, high 2) */
  public int rank() {
    return ordinal();
  }

  /** @return the priority named {@code s} ({@code low}, {@code normal}, {@code high}), or null if unknown */
  public static Priority fromWire(String s) {
    return WireNames.find(Priority.class, s);
  }
}
