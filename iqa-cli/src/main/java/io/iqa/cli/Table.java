package io.iqa.cli;

import io.iqa.protocol.Text;
import java.io.PrintWriter;
import java.util.List;

/**
 * A plain aligned text table. Cells hold text from the broker and the sidecar (owners, purposes,
 * error messages): control characters are shown as {@code \\uXXXX}, so none can drive the terminal.
 */
final class Table {
  private Table() {
  }

  static void print(PrintWriter out, List<String> header, List<List<String>> cells) {
    List<List<String>> rows = cells.stream().map(r -> r.stream().map(Text::printable).toList()).toList();
    int[] width = new int[header.size()];
    for (int i = 0; i < header.size(); i++) {
      width[i] = header.get(i).length();
    }
    for (List<String> r : rows) {
      for (int i = 0; i < r.size(); i++) {
        width[i] = Math.max(width[i], r.get(i).length());
      }
    }
    line(out, width, header);
    for (List<String> r : rows) {
      line(out, width, r);
    }
  }

  private static void line(PrintWriter out, int[] width, List<String> cells) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < cells.size(); i++) {
      sb.append(i == 0 ? "" : "  ").append(String.format("%-" + width[i] + "s", cells.get(i)));
    }
    out.println(sb.toString().stripTrailing());
  }
}
