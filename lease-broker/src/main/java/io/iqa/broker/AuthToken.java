package io.iqa.broker;

import io.vertx.core.json.JsonObject;
import java.util.Locale;

/**
 * A configured bearer token: only its SHA-256 is kept. A {@code client} acts for the owner named
 * {@code name}; an {@code admin} may do anything.
 */
public record AuthToken(String name, String tokenSha256, Role role) {

  public enum Role { CLIENT, ADMIN }

  static AuthToken fromJson(JsonObject json) {
    String name = json.getString("name");
    String sha = json.getString("token_sha256");
    String role = json.getString("role", "client");
    if (name == null || name.isBlank()) {
      throw new ConfigException("auth.tokens[].name is required");
    }
    if (sha == null || !sha.matches("[0-9a-fA-F]{64}")) {
      throw new ConfigException("auth.tokens[" + name + "].token_sha256 must be 64 hex digits (sha256sum of the token)");
    }
    Role r;
    try {
      r = Role.valueOf(role.toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new ConfigException("auth.tokens[" + name + "].role must be 'client' or 'admin', not '" + role + "'");
    }
    return new AuthToken(name, sha.toLowerCase(Locale.ROOT), r);
  }
}
