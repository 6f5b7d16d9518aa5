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

  /** A bearer token: what an {@code Authorization} header can carry (no space, no line break). */
  String TOKEN = "[\\x21-\\x7e]+";
  String TOKEN_RULE = "printable ASCII without spaces";
  /** An http(s) URL without spaces or control characters. */
  String HTTP_URL = "https?://[^\\s\\p{Cntrl}]+";
  String HTTP_URL_RULE = "an http:// URL";
  /** A host name or address to listen on. */
  String HOST = "[A-Za-z0-9._:\\[\\]%-]{1,253}";
  String HOST_RULE = "a host name or address";
  /** Where a Redis is: what Lettuce takes. */
  String REDIS_URL = "(redis|rediss|unix)://.*";
  String REDIS_URL_RULE = "a redis:// URL";
  /** A SHA-256, as sha256sum prints it. */
  String SHA256 = "[0-9a-fA-F]{64}";
  String SHA256_RULE = "64 hex digits (sha256sum of the token)";

  String value();

  String what();
}
