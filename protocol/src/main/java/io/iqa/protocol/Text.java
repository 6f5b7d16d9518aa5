package io.iqa.protocol;

/**
 * Text that came from a request, a file name or another program, made safe to show: in a log line
 * (no forged line from a CR/LF), on a terminal (no escape sequence from ESC), anywhere (no NUL).
 */
public final class Text {

  private Text() {
  }

  /**
   * @return {@code s} with every control character (C0, DEL, C1), the Unicode line and paragraph
   *     separators and the bidirectional controls (U+061C, U+200E/F, U+202A-E, U+2066-9: they reorder
   *     what follows on a terminal or in a log viewer, so "exe.txt" can show as "txt.exe") shown as
   *     {@code \\uXXXX}, and backslashes doubled so the result reads back unambiguously; "null" for null
   */
  public static String printable(String s) {
    return escaped(s, true);
  }

  /**
   * @return {@code s} with the characters {@link #printable} escapes escaped, backslashes left as
   *     they are: for a message that may already hold printable text
   */
  public static String safe(String s) {
    return escaped(s, false);
  }

  private static String escaped(String s, boolean backslashes) {
    if (s == null) {
      return "null";
    }
    StringBuilder out = null;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      boolean control = c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == '\u2028' || c == '\u2029'
          || bidi(c);
      if (control || backslashes && c == '\\') {
        if (out == null) {
          out = new StringBuilder(s.length() + 16).append(s, 0, i);
        }
        if (c == '\\') {
          out.append("\\\\");
        } else {
          out.append(String.format("\\u%04x", (int) c));
        }
      } else if (out != null) {
        out.append(c);
      }
    }
    return out == null ? s : out.toString();
  }

  private static boolean bidi(char c) {
    return c == '\u061c' || c == '\u200e' || c == '\u200f' || (c >= '\u202a' && c <= '\u202e')
        || (c >= '\u2066' && c <= '\u2069');
  }

  /** {@link #printable} cut to at most {@code max} characters, with "..." when cut. */
  public static String printable(String s, int max) {
    String p = printable(s);
    return p.length() <= max ? p : p.substring(0, Math.max(0, max - 3)) + "...";
  }

  /** @return {@code v} as people write it: {@code 60}, not {@code 60.0}; {@code 1.5} */
  public static String number(double v) {
    return v == Math.rint(v) && Math.abs(v) < 1e18 ? Long.toString((long) v) : Double.toString(v);
  }
}
