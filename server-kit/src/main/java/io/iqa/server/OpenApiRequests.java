package io.iqa.server;

import io.iqa.protocol.Text;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.Json;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import io.vertx.json.schema.OutputUnit;
import io.vertx.openapi.contract.MediaType;
import io.vertx.openapi.contract.OpenAPIContract;
import io.vertx.openapi.contract.Operation;
import io.vertx.openapi.validation.RequestUtils;
import io.vertx.openapi.validation.RequestValidator;
import io.vertx.openapi.validation.SchemaValidationException;
import io.vertx.openapi.validation.ValidatorErrorType;
import io.vertx.openapi.validation.ValidatorException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The OpenAPI document a server serves, as the check of the requests it takes: before a route's
 * handler runs, the request's parameters and JSON body are validated against the document's
 * operation (vertx-openapi), so the document is the one contract. A request that breaks it is a 400
 * {@code bad_request} naming the field and what the document asks of it. What a document cannot say
 * (a limit from this server's config, a GPU it does not arbitrate) stays with the handler.
 */
public final class OpenApiRequests {

  private final OpenAPIContract contract;
  private final RequestValidator validator;

  private OpenApiRequests(Vertx vertx, OpenAPIContract contract) {
    this.contract = contract;
    this.validator = RequestValidator.create(vertx, contract);
  }

  /** Loads the document at the classpath resource {@code resource} (what {@code /openapi.json} serves). */
  public static Future<OpenApiRequests> load(Vertx vertx, String resource) {
    JsonObject document;
    try (InputStream in = OpenApiRequests.class.getClassLoader().getResourceAsStream(resource)) {
      if (in == null) {
        return Future.failedFuture(new IllegalStateException("no OpenAPI document " + resource + " on the classpath"));
      }
      document = new JsonObject(Buffer.buffer(in.readAllBytes()));
    } catch (IOException e) {
      return Future.failedFuture(new UncheckedIOException(e));
    }
    return OpenAPIContract.from(vertx, requestsOnly(document)).map(c -> new OpenApiRequests(vertx, c));
  }

  /**
   * @return the document without its answers' bodies: only requests are checked here (the tests
   *     check the answers), and vertx-openapi refuses a document whose answers it cannot read (an
   *     event stream, an HTML page)
   */
  private static JsonObject requestsOnly(JsonObject document) {
    JsonObject copy = document.copy();
    JsonObject paths = copy.getJsonObject("paths", new JsonObject());
    for (String path : paths.fieldNames()) {
      JsonObject operations = paths.getJsonObject(path);
      for (String method : operations.fieldNames()) {
        if (operations.getValue(method) instanceof JsonObject op && op.getValue("requestBody") instanceof JsonObject in
            && in.getValue("content") instanceof JsonObject content) {
          // Bodies it cannot read (an image) are the route's own: see checkJson.
          content.fieldNames().removeIf(type -> !MediaType.SUPPORTED_MEDIA_TYPES.contains(type));
        }
        if (operations.getValue(method) instanceof JsonObject op
            && op.getValue("responses") instanceof JsonObject answers) {
          for (String status : answers.fieldNames()) {
            if (answers.getValue(status) instanceof JsonObject answer) {
              answer.remove("content");
              answer.remove("headers");
            }
          }
        }
      }
    }
    return copy;
  }

  /**
   * @return a route handler that lets the request on only when it is what operation {@code
   *     operationId} describes; {@code body} gives its body, read before with the server's limits
   *     (null for an operation without one)
   * @throws IllegalArgumentException when the document has no such operation
   */
  public Handler<RoutingContext> check(String operationId, Function<RoutingContext, Buffer> body) {
    Operation operation = contract.operation(operationId);
    if (operation == null) {
      throw new IllegalArgumentException("the OpenAPI document has no operation '" + operationId + "'");
    }
    JsonObject schema = bodySchema(operation);
    return ctx -> RequestUtils.extract(ctx.request(), operation,
            () -> Future.succeededFuture(body == null ? null : body.apply(ctx)))
        .compose(request -> validator.validate(request, operationId))
        .onSuccess(validated -> ctx.next())
        .onFailure(e -> ctx.fail(refusal(e, schema)));
  }

  /**
   * Checks the JSON body of an operation whose route reads its body itself because the operation
   * takes other media types too (the sidecar's {@code /infer}: an image, or {@code {"path": ...}}).
   * @return the body, decoded @throws HttpError 400 naming the field, as {@link #check} refuses
   */
  public Object checkJson(String operationId, Buffer body) {
    Operation operation = contract.operation(operationId);
    MediaType json = operation == null || operation.getRequestBody() == null ? null
        : operation.getRequestBody().getContent().get(MediaType.APPLICATION_JSON);
    if (json == null) {
      throw new IllegalArgumentException("the OpenAPI document has no JSON body for '" + operationId + "'");
    }
    Object value;
    try {
      value = Json.decodeValue(body);
    } catch (DecodeException e) {
      throw HttpError.badRequest("the request body is not valid JSON");
    }
    OutputUnit unit = contract.getSchemaRepository().validator(json.getSchema()).validate(value);
    if (!Boolean.TRUE.equals(unit.getValid())) {
      throw HttpError.badRequest(Text.printable(describe(unit, "", bodySchema(operation)), 500));
    }
    return value;
  }

  /** @return the raw schema of {@code operation}'s JSON body, or an empty one */
  private JsonObject bodySchema(Operation operation) {
    JsonObject raw = operation.getRequestBody() == null ? null : operation.getRequestBody().getOpenAPIModel();
    JsonObject json = raw == null ? null : raw.getJsonObject("content", new JsonObject())
        .getJsonObject("application/json", new JsonObject()).getJsonObject("schema");
    return json == null ? new JsonObject() : json;
  }

  /** Keywords that only gather the errors of others: the message names what is under them. */
  private static final Set<String> GATHERING = Set.of("properties", "additionalProperties", "$ref", "allOf", "anyOf",
      "oneOf", "items", "prefixItems", "not", "if", "then", "else", "dependentSchemas", "unevaluatedProperties");
  private static final Pattern REQUIRED = Pattern.compile("Instance does not have required property \"(.*)\"");
  private static final Pattern TYPE = Pattern.compile("Instance type (\\w+) is invalid\\. Expected (.*)");
  private static final Pattern ENUM = Pattern.compile("Instance does not match any of (.*)");
  private static final Pattern BOUND = Pattern.compile("(\\S+) is (less|greater) than (\\S+)");
  private static final Pattern PARAMETER = Pattern.compile("The value of \\w+ parameter (\\S+) is invalid");

  /** @return the 400 for a request the document refuses: each field at fault, with what the document asks */
  HttpError refusal(Throwable e, JsonObject bodySchema) {
    String message;
    if (e instanceof SchemaValidationException s && s.getOutputUnit() != null) {
      Matcher parameter = PARAMETER.matcher(String.valueOf(e.getMessage()));
      message = parameter.lookingAt() ? describe(s.getOutputUnit(), parameter.group(1), null)
          : describe(s.getOutputUnit(), "", bodySchema);
    } else {
      message = e instanceof ValidatorException v && v.type() == ValidatorErrorType.ILLEGAL_VALUE
          ? "the request body is not valid JSON" : e instanceof ValidatorException ? e.getMessage()
          : "the request is not what the API takes: " + e.getMessage();
    }
    return HttpError.badRequest(Text.printable(String.valueOf(message), 500));
  }

  /**
   * @return what is wrong, field by field: {@code ttl_s: -5 is less than 1}, {@code owner is
   *     required}, {@code unknown field 'ttl'}; the choices of an {@code anyOf} joined by "or"
   */
  String describe(OutputUnit unit, String parameter, JsonObject schema) {
    List<OutputUnit> errors = unit.getErrors() == null || unit.getErrors().isEmpty() ? List.of(unit) : unit.getErrors();
    Set<String> said = new LinkedHashSet<>();
    Set<String> unknown = new LinkedHashSet<>();
    boolean choice = false;
    for (OutputUnit error : errors) {
      String keyword = lastSegment(error.getKeywordLocation());
      String field = parameter.isEmpty() ? field(error.getInstanceLocation()) : parameter;
      if (keyword.equals("anyOf") || keyword.equals("oneOf")) {
        choice = true;
      } else if (keyword.equals("additionalProperties")) {
        unknown.add(field);
      } else if (!GATHERING.contains(keyword)) {
        String text = String.valueOf(error.getError());
        if (keyword.equals("pattern") && schema != null && at(schema, error.getKeywordLocation()) instanceof String p) {
          said.add((field.isEmpty() ? "the request body" : field) + " must match " + p);
        } else {
          said.add(phrase(field, text));
        }
      }
    }
    if (said.isEmpty()) {
      unknown.forEach(f -> said.add("unknown field '" + f + "'"));
    }
    if (said.isEmpty()) {
      said.add(String.valueOf(unit.getError()));
    }
    return String.join(choice ? " or " : "; ", said);
  }

  private static String phrase(String field, String error) {
    Matcher m = REQUIRED.matcher(error);
    if (m.matches()) {
      return (field.isEmpty() ? "" : field + ".") + m.group(1) + " is required";
    }
    String where = field.isEmpty() ? "the request body" : field;
    m = TYPE.matcher(error);
    if (m.matches()) {
      return where + " must be " + m.group(2).replace("null, ", "").replace(", null", "") + ", not " + m.group(1);
    }
    m = BOUND.matcher(error);
    if (m.matches()) {
      return where + " must be at " + (m.group(2).equals("less") ? "least " : "most ") + m.group(3) + ", not "
          + m.group(1);
    }
    m = ENUM.matcher(error);
    if (m.matches()) {
      return where + " must be one of " + m.group(1).replace(",null", "");
    }
    return where + ": " + error;
  }

  /** @return the value at {@code keywordLocation} ({@code #/properties/owner/pattern}) in {@code schema}, or null */
  private Object at(JsonObject schema, String keywordLocation) {
    Object at = schema;
    for (String segment : keywordLocation.replaceFirst("^#/?", "").split("/")) {
      if (at instanceof JsonObject o && segment.equals("$ref") && o.getString("$ref", "").startsWith("#/")) {
        at = at(contract.getRawContract(), o.getString("$ref"));
      } else if (at instanceof JsonObject o) {
        at = o.getValue(segment);
      } else if (at instanceof io.vertx.core.json.JsonArray a && segment.matches("\\d+")) {
        at = a.getValue(Integer.parseInt(segment));
      } else {
        return null;
      }
    }
    return at;
  }

  /** @return {@code ttl_s} for {@code #/ttl_s}, {@code gpus/0} for {@code #/gpus/0}; empty for the whole */
  private static String field(String instanceLocation) {
    return instanceLocation == null ? "" : instanceLocation.replaceFirst("^#?/?", "");
  }

  private static String lastSegment(String keywordLocation) {
    if (keywordLocation == null) {
      return "";
    }
    String[] parts = keywordLocation.split("/");
    return parts[parts.length - 1];
  }
}
