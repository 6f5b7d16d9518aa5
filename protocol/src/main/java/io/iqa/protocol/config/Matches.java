package io.iqa.protocol.config;

import static java.lang.annotation.ElementType.FIELD;
import static java.lang.annotation.ElementType.PARAMETER;
import static java.lang.annotation.ElementType.RECORD_COMPONENT;
import static java.lang.annotation.RetentionPolicy.RUNTIME;

import java.lang.annotation.Retention;
import java.lang.annotation.Target;

/** A config string's pattern (the whole string must match), and what it means, for the message. Checked by {@link ConfigReader} once the record is read. */
@Retention(RUNTIME)
@Target({RECORD_COMPONENT, FIELD, PARAMETER})
public @interface Matches {
  String value();

  String what();
}
