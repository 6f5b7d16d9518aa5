package io.iqa.sidecar.cli;

import io.iqa.protocol.wire.ScoreAnswer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The score command's {@code --table} view: one row per image, one column per model, under a
 * two-line header: the model's name, then what its scores mean ({@code 0-100, lower is better}).
 */
final class ScoreTable {

  private final List<String> models;
  private final List<String> scales;
  private final List<String[]> rows = new ArrayList<>();

  ScoreTable(List<String> models, List<String> scales) {
    this.models = models;
    this.scales = scales;
  }

  void add(ScoreAnswer answer) {
    String[] row = new String[models.size() + 1];
    row[0] = String.valueOf(Path.of(answer.path()).getFileName());
    for (int i = 0; i < models.size(); i++) {
      row[i + 1] = answer.scores() == null ? (i == 0 ? answer.error() : "")
          : String.format("%.1f", answer.scores().get(models.get(i)));
    }
    rows.add(row);
  }

  String render() {
    int[] width = new int[models.size() + 1];
    width[0] = "image".length();
    for (int i = 0; i < models.size(); i++) {
      width[i + 1] = Math.max(models.get(i).length(), scales.get(i).length());
    }
    for (String[] r : rows) {
      for (int i = 0; i < r.length; i++) {
        width[i] = Math.max(width[i], r[i].length());
      }
    }
    StringBuilder sb = new StringBuilder();
    line(sb, width, header());
    String[] meaning = new String[models.size() + 1];
    meaning[0] = "";
    for (int i = 0; i < models.size(); i++) {
      meaning[i + 1] = scales.get(i);
    }
    line(sb, width, meaning);
    for (String[] r : rows) {
      line(sb, width, r);
    }
    return sb.toString();
  }

  private String[] header() {
    String[] h = new String[models.size() + 1];
    h[0] = "image";
    for (int i = 0; i < models.size(); i++) {
      h[i + 1] = models.get(i);
    }
    return h;
  }

  private static void line(StringBuilder sb, int[] width, String[] cells) {
    for (int i = 0; i < cells.length; i++) {
      String fmt = i == 0 ? "%-" + width[i] + "s" : "  %" + width[i] + "s";
      sb.append(String.format(fmt, cells[i]));
    }
    sb.append('\n');
  }
}
