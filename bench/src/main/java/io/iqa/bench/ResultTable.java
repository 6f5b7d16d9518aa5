package io.iqa.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/** A markdown results table with the conditions it was measured under. */
final class ResultTable {

  private final String title;
  private final List<String> notes = new ArrayList<>();
  private final List<String[]> rows = new ArrayList<>();

  ResultTable(String title) {
    this.title = title;
  }

  ResultTable note(String note) {
    notes.add(note);
    return this;
  }

  ResultTable row(String metric, String value, String target, String verdict) {
    rows.add(new String[] {metric, value, target, verdict});
    return this;
  }

  /** @return "pass" / "MISS" for a value against a lower or upper bound */
  static String check(double value, double bound, boolean atLeast) {
    return (atLeast ? value >= bound : value <= bound) ? "pass" : "MISS";
  }

  String render() {
    StringBuilder sb = new StringBuilder("## ").append(title).append("\n\n");
    sb.append("- measured ").append(Instant.now()).append(" on ").append(Runtime.getRuntime().availableProcessors())
        .append(" cores, Java ").append(System.getProperty("java.version")).append(", ")
        .append(System.getProperty("os.name")).append(' ').append(System.getProperty("os.arch")).append('\n');
    notes.forEach(n -> sb.append("- ").append(n).append('\n'));
    sb.append("\n| metric | value | target | |\n|---|---:|---|---|\n");
    for (String[] r : rows) {
      sb.append("| ").append(String.join(" | ", r)).append(" |\n");
    }
    return sb.toString();
  }

  void printAndWrite(Path file) throws IOException {
    String text = render();
    System.out.println(text);
    Path parent = file.toAbsolutePath().getParent();
    if (parent != null) {
      Files.createDirectories(parent);
    }
    Files.writeString(file, text);
    System.out.println("written to " + file);
  }
}
