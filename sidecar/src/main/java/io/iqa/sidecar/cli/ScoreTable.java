package io.iqa.sidecar.cli;

import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The score command's {@code --table} view: one row per image, one column per model. */
final class ScoreTable {

  private final List<String> models;
  private final List<String[]> rows = new ArrayList<>();

  ScoreTable(List<String> models) {
    this.models = models;
  }

  void add(JsonObject answer) {
    String[] row = new String[models.size() + 1];
    row[0] = String.valueOf(Path.of(answer.getString("path")).getFileName());
    JsonObject scores = answer.getJsonObject("scores");
    for (int i = 0; i < models.size(); i++) {
      row[i + 1] = scores == null ? (i == 0 ? answer.getString("error") : "")
          : String.format("%.1f", scores.getDouble(models.get(i)));
    }
    rows.add(row);
  }

  String render() {
    int[] width = new int[models.size() + 1];
    width[0] = "image".length();
    for (int i = 0; i < models.size(); i++) {
      width[i + 1] = models.get(i).length();
    }
    for (String[] r : rows) {
      for (int i = 0; i < r.length; i++) {
        width[i] = Math.max(width[i], r[i].length());
      }
    }
    StringBuilder sb = new StringBuilder();
    line(sb, width, header());
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
