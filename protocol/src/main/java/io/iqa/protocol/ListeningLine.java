package io.iqa.protocol;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The line both servers print on stdout once they serve, {@code NAME listening on URL}: what
 * scripts, the demo, the benchmarks and the tests wait for to learn the URL (port 0 picks a free one).
 */
public final class ListeningLine {

  private static final Pattern LINE = Pattern.compile(" listening on (https?://\\S+)");

  private ListeningLine() {
  }

  public static String of(String name, String url) {
    return name + " listening on " + url;
  }

  /** @return the URL of a listening line, or null for any other line */
  public static String url(String line) {
    Matcher m = LINE.matcher(line);
    return m.find() ? m.group(1) : null;
  }
}
