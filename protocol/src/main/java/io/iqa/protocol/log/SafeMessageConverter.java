package io.iqa.protocol.log;

import ch.qos.logback.classic.pattern.MessageConverter;
import ch.qos.logback.classic.spi.ILoggingEvent;
import io.iqa.protocol.Text;

/**
 * {@code %msg} with control characters escaped ({@link Text#printable}): a log line can hold an
 * owner, a purpose, a reason, a path or a server's message, and none of them may forge a line or
 * drive the terminal. Registered in each program's logback.xml as {@code %safeMsg}.
 */
public final class SafeMessageConverter extends MessageConverter {

  @Override
  public String convert(ILoggingEvent event) {
    return Text.printable(super.convert(event));
  }
}
