package io.iqa.broker;

import io.iqa.protocol.config.ConfigNode;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * A configured bearer token: only its SHA-256 is kept. A {@code client} leases and force-releases
 * in its own name only ({@code name}), or in the names listed in {@code owners}; an {@code admin}
 * may do anything.
 */
public record AuthToken(String name, String tokenSha256, Role role, Set<String> owners) {

  public enum Role { CLIENT, ADMIN }

  static final Set<String> KEYS = Set.of("name", "token_sha256", "role", "owners");
  private static final Pattern SHA256 = Pattern.compile("[0-9a-fA-F]{64}");

  static AuthToken from(ConfigNode t) {
    t.known(KEYS);
    String name = t.string("name", null);
    if (name == null) {
      throw new io.iqa.protocol.config.ConfigException(t.name("name") + " is required");
    }
    String sha = t.string("token_sha256", null, SHA256, "64 hex digits (sha256sum of the token)");
    if (sha == null) {
      throw new io.iqa.protocol.config.ConfigException(t.name("token_sha256") + " is required (sha256sum of the token)");
    }
    Role role = Role.valueOf(t.choice("role", "client", Set.of("client", "admin")).toUpperCase(Locale.ROOT));
    List<String> owners = t.strings("owners", List.of(name));
    return new AuthToken(name, sha.toLowerCase(Locale.ROOT), role, Set.copyOf(owners));
  }

  /** @return whether this token may lease and force-release as {@code owner} */
  public boolean mayActAs(String owner) {
    return role == Role.ADMIN || owners.contains(owner);
  }
}
