package io.iqa.client;

import com.fasterxml.jackson.databind.node.ObjectNode;

/** JSON helpers for the CLI (the library's mapper). */
public final class ClientJson {
  private ClientJson() {
  }

  public static ObjectNode object() {
    return Http.object();
  }

  /** @return {@code node} as plain maps and lists, what the wire records read ({@code LeaseView.fromMap}) */
  public static java.util.Map<String, Object> map(com.fasterxml.jackson.databind.JsonNode node) {
    return Http.map(node);
  }
}
