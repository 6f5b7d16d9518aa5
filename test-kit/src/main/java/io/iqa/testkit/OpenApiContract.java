package io.iqa.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
import com.networknt.schema.ValidationMessage;
import io.iqa.protocol.wire.ErrorCode;
import io.iqa.protocol.wire.WireNames;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * A server's OpenAPI 3.1 document, read from its jar, and real answers checked against it: the
 * schema of the documented response for that path, method and status, validated as JSON Schema
 * 2020-12 (networknt's validator). An answer the document does not describe fails too.
 */
public final class OpenApiContract {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final JsonSchemaFactory SCHEMAS = JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012);
  private final JsonNode doc;
  private final List<String> checked = new ArrayList<>();

  private OpenApiContract(JsonNode doc) {
    this.doc = doc;
  }

  public static OpenApiContract load(String classpathResource) throws IOException {
    try (InputStream in = OpenApiContract.class.getClassLoader().getResourceAsStream(classpathResource)) {
      assertTrue(in != null, classpathResource + " is not in the jar");
      JsonNode doc = JSON.readTree(in);
      assertEquals("3.1.0", doc.path("openapi").asText());
      List<String> codes = new ArrayList<>();
      doc.path("components").path("schemas").path("Error").path("properties").path("error").path("enum")
          .forEach(c -> codes.add(c.asText()));
      assertEquals(Arrays.stream(ErrorCode.values()).map(WireNames::of).toList(), codes,
          "the document's error codes are protocol.wire.ErrorCode's");
      return new OpenApiContract(doc);
    }
  }

  /** @return the document itself, to compare with what the server serves */
  public JsonNode document() {
    return doc;
  }

  /**
   * @param path the documented path (the template, such as {@code /v1/gpu/lease})
   * @throws AssertionError when the answer is not what the document says
   */
  public void check(String method, String path, int status, String body) throws IOException {
    JsonNode op = doc.path("paths").path(path).path(method.toLowerCase());
    assertFalse(op.isMissingNode(), method + " " + path + " is not in the document");
    JsonNode response = op.path("responses").path(Integer.toString(status));
    assertFalse(response.isMissingNode(), method + " " + path + " answered " + status + ", which the document "
        + "does not list: " + body);
    JsonNode schema = response.path("content").path("application/json").path("schema");
    assertFalse(schema.isMissingNode(), method + " " + path + " " + status + " has no JSON schema in the document");
    ObjectNode root = JSON.createObjectNode();
    root.put("$schema", "https://json-schema.org/draft/2020-12/schema");
    root.set("components", doc.path("components"));
    root.putArray("allOf").add(schema);
    JsonSchema validator = SCHEMAS.getSchema(root);
    Set<ValidationMessage> problems = validator.validate(JSON.readTree(body));
    assertTrue(problems.isEmpty(), method + " " + path + " " + status + " does not match the document: " + problems
        + "\n" + body);
    checked.add(method.toUpperCase() + " " + path + " " + status);
  }

  /** @return each answer checked, as "METHOD path status" */
  public List<String> checked() {
    return checked;
  }
}
