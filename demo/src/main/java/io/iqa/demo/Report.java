package io.iqa.demo;

import com.fasterxml.jackson.databind.JsonNode;
import io.iqa.cli.ScoreOutput;
import io.iqa.client.IqaClient.Outcome;
import io.iqa.protocol.ScoreScale;
import io.iqa.protocol.Text;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** What the demo prints: its steps, score tables, the broker's status and its recent events. */
final class Report {

  private static final int EVENTS_SHOWN = 8;
  private final PrintStream out;
  private long eventsSeen = -1;

  Report(PrintStream out) {
    this.out = out;
  }

  void step(String text) {
    out.println();
    out.println("== " + text);
  }

  void line(String text) {
    out.println("   " + text);
  }

  /** One row per image: each model's score, who served it (sidecar, cache, container), or its error. */
  void scores(Map<Path, Outcome> outcomes, Map<String, ScoreScale> scales) {
    PrintWriter w = new PrintWriter(out, true);
    ScoreOutput.TABLE.print(w, outcomes, scales, p -> p.getFileName().toString());
  }

  /** gpu 0's holder and waiters, from {@code /v1/gpu/status}. */
  void status(JsonNode status) {
    for (JsonNode gpu : status.path("gpus")) {
      StringBuilder s = new StringBuilder("status: gpu " + gpu.path("gpu").asText() + " ");
      if (gpu.path("leases").isEmpty()) {
        s.append("free");
      }
      for (JsonNode l : gpu.path("leases")) {
        s.append("held by ").append(l.path("owner").asText()).append(" (lease ").append(l.path("lease_id").asText())
            .append(", ").append(l.path("state").asText()).append(") ");
      }
      int waiting = gpu.path("waiting").size();
      out.println("   " + s.toString().trim() + (waiting > 0 ? ", " + waiting + " waiting" : ""));
    }
  }

  /** The broker's events of {@code types} since the last call (at most the last few). */
  void events(JsonNode events, List<String> types) {
    List<JsonNode> fresh = new ArrayList<>();
    long last = eventsSeen;
    for (JsonNode e : events.path("events")) {
      long seq = e.path("seq").asLong(-1);
      if (seq > eventsSeen && types.contains(e.path("type").asText())) {
        fresh.add(e);
      }
      last = Math.max(last, seq);
    }
    eventsSeen = last;
    out.println("   events:");
    for (JsonNode e : fresh.subList(Math.max(0, fresh.size() - EVENTS_SHOWN), fresh.size())) {
      out.printf("     %s  %-16s lease %-3s %-12s %s%n", e.path("time").asText(), e.path("type").asText(),
          e.path("lease_id").asText(), e.path("owner").asText(),
          Text.printable(e.path("reason").asText(e.path("purpose").asText("")), 70));
    }
  }
}
