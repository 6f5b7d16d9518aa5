package io.iqa.client;

import com.fasterxml.jackson.databind.node.ObjectNode;

/** JSON helpers for the CLI (the library's mapper). */
public final class ClientJson {
  private ClientJson() {
  }

  public static ObjectNode object() {
    return Http.object();
  }
}
