package io.iqa.broker.http;

import io.iqa.broker.AuthToken;
import java.util.Set;

/**
 * Who is calling: the matched token's name, role and the owners it may act as, or {@code anonymous}
 * admin when auth is off.
 */
public record Principal(String name, AuthToken.Role role, Set<String> owners) {

  public static final Principal OPEN = new Principal("anonymous", AuthToken.Role.ADMIN, Set.of());

  public boolean admin() {
    return role == AuthToken.Role.ADMIN;
  }

  /** @return whether this caller may lease and force-release as {@code owner} */
  public boolean mayActAs(String owner) {
    return admin() || owners.contains(owner);
  }

  /** @return the owners a client may touch, or null for an admin (any) */
  public Set<String> ownersOrNullForAny() {
    return admin() ? null : owners;
  }
}
