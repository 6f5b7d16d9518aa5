package io.iqa.protocol.wire;

import com.fasterxml.jackson.annotation.JsonValue;

/** An enum whose constants travel by their wire name: the constant's name in lower case ({@link WireNames}). */
public interface WireEnum {

  /** @return this constant's name on the wire and in config */
  @JsonValue
  default String wireName() {
    return WireNames.of((Enum<?>) this);
  }
}
