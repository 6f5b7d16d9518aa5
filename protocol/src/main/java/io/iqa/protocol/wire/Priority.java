package io.iqa.protocol.wire;

/**
 * Waiting priority of a lease request, by name on the wire and in every store. A higher rank is
 * served first; aging raises a waiter's rank over time.
 */
public enum Priority implements WireEnum {
  LOW(0), NORMAL(1), HIGH(2);

  private final int rank;

  Priority(int rank) {
    this.rank = rank;
  }

  public int rank() {
    return rank;
  }

  /** @return the priority named {@code s} ({@code low}, {@code normal}, {@code high}), or null if unknown */
  public static Priority parse(String s) {
    return WireNames.find(Priority.class, s);
  }
}
