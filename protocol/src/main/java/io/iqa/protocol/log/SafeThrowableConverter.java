package io.iqa.protocol.log;

import ch.qos.logback.classic.pattern.ThrowableProxyConverter;
import ch.qos.logback.classic.spi.IThrowableProxy;
import io.iqa.protocol.Text;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.Proxy;
import java.util.Arrays;

/**
 * {@code %ex} with each exception's message escaped ({@link Text#printable}): a parser's message may
 * quote request text. The stack frames keep their lines. Registered as {@code %safeEx}.
 */
public final class SafeThrowableConverter extends ThrowableProxyConverter {

  @Override
  protected String throwableProxyToString(IThrowableProxy tp) {
    return super.throwableProxyToString(safe(tp));
  }

  /**
   * @return {@code tp} with its message, its causes' and its suppressed exceptions' escaped; every
   *     other method (also one a later logback adds) answers what {@code tp} does
   */
  private static IThrowableProxy safe(IThrowableProxy tp) {
    if (tp == null) {
      return null;
    }
    InvocationHandler escaped = (proxy, method, args) -> switch (method.getName()) {
      case "getMessage" -> tp.getMessage() == null ? null : Text.printable(tp.getMessage());
      case "getCause" -> safe(tp.getCause());
      case "getSuppressed" -> tp.getSuppressed() == null ? null
          : Arrays.stream(tp.getSuppressed()).map(SafeThrowableConverter::safe).toArray(IThrowableProxy[]::new);
      default -> method.invoke(tp, args);
    };
    return (IThrowableProxy) Proxy.newProxyInstance(IThrowableProxy.class.getClassLoader(),
        new Class<?>[] {IThrowableProxy.class}, escaped);
  }
}
