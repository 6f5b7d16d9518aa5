package io.iqa.protocol.wire;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import java.util.Map;

/**
 * The one Jackson configuration of every module, for the wire records: fields in snake_case,
 * times as ISO-8601 text ({@code Instant.toString()}), enums by their wire name ({@link WireEnum}).
 * Reading is lenient about fields it does not know: an answer from a newer peer may carry more.
 */
public final class WireJson {

  public static final ObjectMapper MAPPER = builder()
      .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
      .enable(DeserializationFeature.READ_UNKNOWN_ENUM_VALUES_AS_NULL)
      .build();

  private static final TypeReference<Map<String, Object>> MAP = new TypeReference<>() { };

  private WireJson() {
  }

  /**
   * @return what every mapper of the project shares (the wire's lenient one above, the config's
   *     strict one in {@code ConfigReader}): snake_case fields, ISO-8601 times
   */
  public static JsonMapper.Builder builder() {
    return JsonMapper.builder()
        .propertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
        .addModule(new JavaTimeModule())
        .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS)
        .disable(DeserializationFeature.ADJUST_DATES_TO_CONTEXT_TIME_ZONE);
  }

  /** @return {@code value} as plain maps and lists, in its wire field names (what Vert.x's JsonObject wraps) */
  public static Map<String, Object> toMap(Object value) {
    return MAPPER.convertValue(value, MAP);
  }

  /** @return the {@code type} a wire map (or Vert.x JsonObject's map) describes */
  public static <T> T fromMap(Map<String, ?> map, Class<T> type) {
    return MAPPER.convertValue(map, type);
  }

  /** @return the {@code type} a JSON tree describes */
  public static <T> T fromTree(JsonNode node, Class<T> type) {
    return MAPPER.convertValue(node, type);
  }
}
