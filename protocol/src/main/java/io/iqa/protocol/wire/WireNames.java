package io.iqa.protocol.wire;

import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The one rule for an enum constant's name on the wire and in config: its constant name in lower
 * case ({@code FORCE_RELEASED} is {@code force_released}). Every wire enum's {@code wireName} and
 * {@code fromWire} go through here.
 */
public final class WireNames {

  /** Each enum's constants by wire name, built once per enum (the lookups are on request paths). */
  private static final ClassValue<Map<String, Enum<?>>> BY_NAME = new ClassValue<>() {
    @Override
    protected Map<String, Enum<?>> computeValue(Class<?> type) {
      Map<String, Enum<?>> m = new HashMap<>();
      for (Object constant : type.getEnumConstants()) {
        m.put(of((Enum<?>) constant), (Enum<?>) constant);
      }
      return Map.copyOf(m);
    }
  };

  private WireNames() {
  }

  /** @return {@code constant}'s wire name */
  public static String of(Enum<?> constant) {
    return constant.name().toLowerCase(Locale.ROOT);
  }

  /** @return the constant of {@code type} whose wire name is {@code wire}, or null for none (or null) */
  public static <E extends Enum<E>> E find(Class<E> type, String wire) {
    return wire == null ? null : type.cast(BY_NAME.get(type).get(wire));
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
