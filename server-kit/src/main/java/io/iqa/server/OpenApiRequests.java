package io.iqa.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.networknt.schema.JsonMetaSchema;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.NonValidationKeyword;
import com.networknt.schema.SpecVersion;
import com.networknt.schema.ValidationMessage;
import io.iqa.protocol.Text;
import io.vertx.core.Handler;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.ext.web.RoutingContext;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Function;

/**
 * The OpenAPI document a server serves, as the check of the requests it takes: before a route's
 * handler runs, the request's parameters and JSON body are validated against the document's
 * operation (JSON Schema 2020-12, networknt's validator: a lease body in about a microsecond), so
 * the document is the one contract. A request that breaks it is a 400 {@code bad_request} naming
 * the field and what the document asks of it. What a document cannot say (a limit from this
 * server's config, a GPU it does not arbitrate) stays with the handler.
 */
public final class OpenApiRequests {

  private static final ObjectMapper JSON = new ObjectMapper();
  /** 2020-12, with the document's {@code components} beside each schema (what its {@code $ref}s point into). */
  private static final JsonSchemaFactory SCHEMAS = JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012,
      b -> b.metaSchema(JsonMetaSchema.builder(JsonMetaSchema.getV202012())
          .keyword(new NonValidationKeyword("components")).build()));

  /** Where {@link #check} leaves the body it decoded and found valid, for the handler to read (not parse again). */
  public static final String CHECKED_BODY = "openapi.checked_body";

  private final JsonNode document;

  private OpenApiRequests(JsonNode document) {
    this.document = document;
  }

  /** Loads the document at the classpath resource {@code resource} (what {@code /openapi.json} serves). */
  public static OpenApiRequests load(String resource) {
    try (InputStream in = OpenApiRequests.class.getClassLoader().getResourceAsStream(resource)) {
      if (in == null) {
        throw new IllegalStateException("no OpenAPI document " + resource + " on the classpath");
      }
      return new OpenApiRequests(JSON.readTree(in));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * @return a route handler that lets the request on only when it is what operation {@code
   *     operationId} describes: its parameters, and its JSON body, which {@code body} gives (read
   *     before with the server's limits; null for an operation without one)
   * @throws IllegalArgumentException when the document has no such operation
   */
  public Handler<RoutingContext> check(String operationId, Function<RoutingContext, Buffer> body) {
    JsonNode operation = operation(operationId);
    List<Parameter> parameters = new ArrayList<>();
    operation.path("parameters").forEach(p -> parameters.add(new Parameter(p.path("name").asText(),
        p.path("in").asText(), p.path("required").asBoolean(false), p.path("schema").path("type").asText("string"),
        schema(p.path("schema")))));
    JsonSchema json = body == null ? null : jsonBody(operation, operationId);
    return ctx -> {
      try {
        for (Parameter p : parameters) {
          p.check(ctx.request());
        }
        if (json != null) {
          ctx.put(CHECKED_BODY, valid(json, body.apply(ctx), "the request body"));
        }
        ctx.next();
      } catch (HttpError refused) {
        ctx.fail(refused);
      }
    };
  }

  /**
   * The check of the JSON body of an operation whose route reads its body itself because the
   * operation takes other media types too (the sidecar's {@code /infer}: an image, or {@code
   * {"path": ...}}): made once, applied to each body.
   * @return the body, decoded, from each call; it throws HttpError 400 naming the field, as {@link #check} refuses
   */
  public Function<Buffer, JsonNode> jsonCheck(String operationId) {
    JsonSchema schema = jsonBody(operation(operationId), operationId);
    return body -> valid(schema, body, "the request body");
  }

  private JsonNode operation(String operationId) {
    for (JsonNode path : document.path("paths")) {
      for (JsonNode operation : path) {
        if (operationId.equals(operation.path("operationId").asText(null))) {
          return operation;
        }
      }
    }
    throw new IllegalArgumentException("the OpenAPI document has no operation '" + operationId + "'");
  }

  private JsonSchema jsonBody(JsonNode operation, String operationId) {
    JsonNode schema = operation.path("requestBody").path("content").path("application/json").path("schema");
    if (schema.isMissingNode()) {
      throw new IllegalArgumentException("the OpenAPI document has no JSON body for '" + operationId + "'");
    }
    return schema(schema);
  }

  /** @return {@code schema} as a validator, with the document's components to resolve its references */
  private JsonSchema schema(JsonNode schema) {
    ObjectNode root = JSON.createObjectNode();
    root.put("$schema", "https://json-schema.org/draft/2020-12/schema");
    root.set("components", document.path("components"));
    root.putArray("allOf").add(schema);
    return SCHEMAS.getSchema(root);
  }

  /** @return {@code body} decoded, when {@code schema} finds it valid @throws HttpError 400 naming the field */
  private static JsonNode valid(JsonSchema schema, Buffer body, String what) {
    if (body == null || body.length() == 0) {
      throw HttpError.badRequest(what + " is required");
    }
    JsonNode value;
    try {
      value = JSON.readTree(body.getBytes());
    } catch (JsonProcessingException e) {
      throw HttpError.badRequest(what + " is not valid JSON");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    refuseUnless(schema.validate(value), null);
    return value;
  }

  /** @throws HttpError 400 saying what is wrong, when {@code problems} is not empty */
  private static void refuseUnless(Set<ValidationMessage> problems, String parameter) {
    if (!problems.isEmpty()) {
      throw HttpError.badRequest(Text.printable(describe(problems, parameter), 500));
    }
  }

  /**
   * @return what is wrong, field by field: {@code ttl_s must be at least 1, not -5}, {@code owner
   *     is required}, {@code unknown field 'ttl'}; the choices of an {@code anyOf} joined by "or"
   * @param parameter the parameter's name, or null for a body (its fields are named by their place)
   */
  static String describe(Set<ValidationMessage> problems, String parameter) {
    Set<String> said = new LinkedHashSet<>();
    boolean choice = false;
    for (ValidationMessage m : problems) {
      String at = String.valueOf(m.getInstanceLocation()).replaceFirst("^\\$\\.?", "");
      String field = parameter != null ? parameter : at.isEmpty() ? "the request body" : at;
      choice |= String.valueOf(m.getEvaluationPath()).matches(".*\\.(anyOf|oneOf)\\[\\d+].*");
      Object[] args = m.getArguments() == null ? new Object[0] : m.getArguments();
      String arg = args.length > 0 ? String.valueOf(args[0]) : "";
      said.add(switch (m.getType()) {
        case "required" -> (at.isEmpty() ? "" : at + ".") + m.getProperty() + " is required";
        case "additionalProperties" -> "unknown field '" + (at.isEmpty() ? "" : at + ".") + m.getProperty() + "'";
        case "type" -> field + " must be " + (args.length > 1 ? withoutNull(String.valueOf(args[1])) : "") + ", not "
            + arg;
        case "minimum", "exclusiveMinimum" -> field + " must be at least " + arg + ", not " + m.getInstanceNode();
        case "maximum", "exclusiveMaximum" -> field + " must be at most " + arg + ", not " + m.getInstanceNode();
        case "pattern" -> field + " must match " + arg;
        case "enum" -> field + " must be one of " + withoutNull(arg);
        case "minLength" -> field + " must be at least " + arg + " characters long";
        case "maxLength" -> field + " must be at most " + arg + " characters long";
        default -> field + ": " + m.getMessage().replaceFirst("^\\$[^:]*: ", "");
      });
    }
    return String.join(choice ? " or " : "; ", said);
  }

  /** {@code [number, null]} is {@code number}; {@code ["a", "b", null]} is {@code ["a", "b"]}: null is the default. */
  private static String withoutNull(String types) {
    String t = types.replace(", null", "").replace("null, ", "");
    return t.matches("\\[[a-z]+]") ? t.substring(1, t.length() - 1) : t;
  }

  /** A query or header parameter of an operation, as its schema types it. */
  private record Parameter(String name, String in, boolean required, String type, JsonSchema schema) {

    void check(HttpServerRequest request) {
      String raw = in.equals("header") ? request.getHeader(name) : in.equals("query") ? request.getParam(name) : null;
      if (raw == null) {
        if (required) {
          throw HttpError.badRequest("the " + in + " parameter " + name + " is required");
        }
        return;
      }
      refuseUnless(schema.validate(typed(raw)), name);
    }

    /** @return {@code raw} as the JSON value its schema's type reads it as (a string when it is not one) */
    private JsonNode typed(String raw) {
      JsonNodeFactory nodes = JsonNodeFactory.instance;
      try {
        return switch (type) {
          case "integer" -> nodes.numberNode(new BigInteger(raw.trim()));
          case "number" -> nodes.numberNode(new BigDecimal(raw.trim()));
          case "boolean" -> raw.equals("true") || raw.equals("false") ? nodes.booleanNode(raw.equals("true"))
              : nodes.textNode(raw);
          default -> nodes.textNode(raw);
        };
      } catch (NumberFormatException e) {
        return nodes.textNode(raw);
      }
    }
  }
}
