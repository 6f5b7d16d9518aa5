package io.iqa.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** What request text looks like once it is safe to show in a log line or on a terminal. */
class TextTest {

  @Test
  void controlsSeparatorsAndBidiControlsAreShownAsEscapes() {
    assertEquals("a\\u000d\\u000aforged", Text.printable("a\r\nforged"));
    assertEquals("\\u001b[2J", Text.printable("\u001b[2J"));
    assertEquals("x\\u2028y", Text.printable("x\u2028y"));
    // A right-to-left override makes "gpj.exe" read "exe.jpg" where it is shown.
    assertEquals("photo\\u202egpj.exe", Text.printable("photo\u202egpj.exe"));
    assertEquals("\\u2066\\u2069\\u200f\\u061c", Text.printable("\u2066\u2069\u200f\u061c"));
    assertEquals("a\\\\u202e", Text.printable("a\\u202e"), "a backslash is doubled, so an escape reads back");
    assertEquals("schön 日本", Text.printable("schön 日本"), "ordinary text is left alone");
    assertEquals("null", Text.printable(null));
    assertEquals("abcd...", Text.printable("abcdefghij", 7));
  }
}
