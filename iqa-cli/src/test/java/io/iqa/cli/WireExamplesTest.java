package io.iqa.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.iqa.testkit.OpenApiContract;
import io.iqa.protocol.wire.ErrorCode;
import io.iqa.protocol.wire.LeaseView;
import io.iqa.protocol.wire.ScoreAnswer;
import io.iqa.protocol.wire.WatchEvent;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The wire examples both clients' tests read ({@code protocol/wire-examples}, answers captured from
 * real servers): each HTTP answer is what its server's OpenAPI document says, and each one parses
 * with the project's wire types (the Python client's tests parse the same files with its own code).
 */
class WireExamplesTest {

  private static final ObjectMapper JSON = new ObjectMapper();
  static final Path EXAMPLES = Path.of("..", "protocol", "wire-examples");

  @Test
  void everyExampleIsWhatTheDocumentsSayAndParses() throws Exception {
    OpenApiContract broker = OpenApiContract.load("io/iqa/broker/openapi.json");
    OpenApiContract sidecar = OpenApiContract.load("io/iqa/sidecar/openapi.json");
    List<Path> files;
    try (Stream<Path> s = Files.list(EXAMPLES)) {
      files = s.filter(p -> p.toString().endsWith(".json")).sorted().toList();
    }
    assertTrue(files.size() >= 10, "the examples: " + files);
    int http = 0;
    int watch = 0;
    for (Path f : files) {
      JsonNode e = JSON.readTree(f.toFile());
      if (e.has("watch_event")) {
        assertNotNull(WatchEvent.fromWire(e.path("watch_event").asText()), f + ": an event the clients know");
        assertEquals(1, e.path("data").path("lease_id").asInt(), f.toString());
        watch++;
        continue;
      }
      OpenApiContract doc = e.path("service").asText().equals("broker") ? broker : sidecar;
      String body = JSON.writeValueAsString(e.path("body"));
      doc.check(e.path("method").asText(), e.path("path").asText(), e.path("status").asInt(), body);
      Map<String, Object> map = JSON.convertValue(e.path("body"), new com.fasterxml.jackson.core.type.TypeReference<>() {
      });
      if (e.path("body").has("error")) {
        ErrorCode code = ErrorCode.fromWire(e.path("body").path("error").asText());
        assertNotNull(code, f + ": a v1 error code");
        assertEquals(e.path("status").asInt(), code.status(), f + ": the code's status");
      } else if (e.path("path").asText().equals("/infer")) {
        assertNotNull(ScoreAnswer.fromMap(map).scores().get("tech_sharpness"), f.toString());
      } else if (e.path("path").asText().equals("/v1/gpu/lease")) {
        LeaseView v = LeaseView.fromMap(map);
        assertEquals(0, v.gpu());
        assertNotNull(v.token(), f.toString());
      }
      http++;
    }
    assertTrue(http >= 6 && watch >= 3, http + " answers, " + watch + " watch events");
  }
}
