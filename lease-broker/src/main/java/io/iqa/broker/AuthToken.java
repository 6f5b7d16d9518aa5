package io.iqa.broker;

import io.iqa.protocol.config.Matches;
import io.iqa.protocol.config.Required;
import io.iqa.protocol.wire.LeaseRequest;
import io.iqa.protocol.wire.WireEnum;
import java.util.Locale;
import java.util.Set;

/**
 * A configured bearer token (an entry of {@code auth.tokens}): only its SHA-256 is kept. A {@code
 * client} leases and force-releases in its own name only ({@code name}), or in the names listed in
 * {@code owners}; an {@code admin} may do anything.
 */
public record AuthToken(
    @Required @Matches(value = LeaseRequest.OWNER_PATTERN, what = LeaseRequest.OWNER_RULE) String name,
    @Required("sha256sum of the token") @Matches(value = Matches.SHA256, what = Matches.SHA256_RULE) String tokenSha256,
    Role role, @Matches(value = LeaseRequest.OWNER_PATTERN, what = LeaseRequest.OWNER_RULE) Set<String> owners) {

  public enum Role implements WireEnum { CLIENT, ADMIN }

  /** A role left out is client; owners left out are the token's own name. */
  public AuthToken {
    role = role == null ? Role.CLIENT : role;
    owners = owners != null ? Set.copyOf(owners) : name == null ? Set.of() : Set.of(name);
    tokenSha256 = tokenSha256 == null ? null : tokenSha256.toLowerCase(Locale.ROOT);
  }

  /** @return whether this token may lease and force-release as {@code owner} */
  public boolean mayActAs(String owner) {
    return role == Role.ADMIN || owners.contains(owner);
  }
}
