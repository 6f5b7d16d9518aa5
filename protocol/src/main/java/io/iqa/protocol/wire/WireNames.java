package io.iqa.protocol.wire;

import java.util.Locale;

/**
 * The one rule for an enum constant's name on the wire and in config: its constant name in lower
 * case ({@code FORCE_RELEASED} is {@code force_released}). Every wire enum's {@code wireName} and
 * {@code fromWire} go through here.
 */
public final class WireNames {

  private WireNames() {
  }

  /** @return {@code constant}'s wire name */
  public static String of(Enum<?> constant) {
    return constant.name().toLowerCase(Locale.ROOT);
  }

  /** @return the constant of {@code type} whose wire name is {@code wire}, or null for none (or null) */
  public static <E extends Enum<E>> E find(Class<E> type, String wire) {
    if (wire == null) {
      return null;
    }
    for (E constant : type.getEnumConstants()) {
      if (of(constant).equals(wire)) {
        return constant;
      }
    }
    return null;
  }

  /** @return the wire names of {@code type}'s constants, as "a, b or c" for a message */
  public static <E extends Enum<E>> String choices(Class<E> type) {
    E[] all = type.getEnumConstants();
    StringBuilder s = new StringBuilder();
    for (int i = 0; i < all.length; i++) {
      s.append(i == 0 ? "" : i == all.length - 1 ? " or " : ", ").append(of(all[i]));
    }
    return s.toString();
  }
}
