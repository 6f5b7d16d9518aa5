package io.iqa.cli;

import io.iqa.client.ClientJson;
import io.iqa.client.IqaClient.Outcome;
import io.iqa.client.ScoreResult;
import io.iqa.protocol.ScoreScale;
import io.iqa.protocol.Text;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * Scores as {@code iqa score} prints them (and {@code scripts/demo} with it): a table with each
 * model's scale on a second header line, CSV with a header row, or one JSON object per line. One
 * row per image: each model's score, who served it ({@code sidecar}, {@code cache},
 * {@code container}) and its error.
 */
public enum ScoreOutput {
  TABLE, CSV, JSON;

  /**
   * @param name how an image is named in its row (its path, or only its file name)
   * @param scales each model's scale, for the table's second header line (none: no such line)
   */
  public void print(PrintWriter out, Map<Path, Outcome> outcomes, Map<String, ScoreScale> scales,
      Function<Path, String> name) {
    if (this == JSON) {
      outcomes.forEach((p, o) -> out.println(jsonLine(name.apply(p), o)));
      return;
    }
    Set<String> models = new LinkedHashSet<>();
    outcomes.values().stream().filter(o -> o.result() != null).forEach(o -> models.addAll(o.result().scores().keySet()));
    List<String> header = new ArrayList<>(List.of("image"));
    header.addAll(models);
    header.addAll(List.of("served_by", "error"));
    List<List<String>> rows = new ArrayList<>();
    if (this == TABLE && models.stream().anyMatch(scales::containsKey)) {
      // A second header line says what each column means: "0-100, lower is better".
      List<String> meaning = new ArrayList<>(List.of(""));
      models.forEach(m -> meaning.add(scales.containsKey(m) ? scales.get(m).describe() : ""));
      meaning.addAll(List.of("", ""));
      rows.add(meaning);
    }
    outcomes.forEach((p, o) -> {
      List<String> row = new ArrayList<>(List.of(name.apply(p)));
      for (String m : models) {
        Double v = o.result() == null ? null : o.result().scores().get(m);
        row.add(v == null ? "" : String.format(Locale.ROOT, "%.2f", v));
      }
      row.add(o.result() == null ? "" : o.result().servedBy());
      row.add(o.error() == null ? "" : o.error());
      rows.add(row);
    });
    if (this == CSV) {
      out.println(String.join(",", header));
      rows.forEach(r -> out.println(String.join(",", r.stream().map(ScoreOutput::csvCell).toList())));
    } else {
      Table.print(out, header, rows);
    }
    out.flush();
  }

  private static String jsonLine(String path, Outcome o) {
    var node = ClientJson.object().put("path", path);
    if (o.result() != null) {
      ScoreResult r = o.result();
      node.put("sha256", r.sha256()).put("served_by", r.servedBy()).put("device", r.device());
      var scores = node.putObject("scores");
      r.scores().forEach(scores::put);
    } else {
      node.put("error", o.error());
    }
    return node.toString();
  }

  private static String csvCell(String raw) {
    String s = Text.printable(raw);
    return s.contains(",") || s.contains("\"") || s.contains("\n") ? "\"" + s.replace("\"", "\"\"") + "\"" : s;
  }
}
