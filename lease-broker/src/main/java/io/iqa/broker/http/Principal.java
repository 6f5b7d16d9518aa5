package io.iqa.broker.http;

import io.iqa.broker.AuthToken;

/** Who is calling: the matched token's name and role, or {@code anonymous} admin when auth is off. */
public record Principal(String name, AuthToken.Role role) {

  public static final Principal OPEN = new Principal("anonymous", AuthToken.Role.ADMIN);

  public boolean admin() {
    return role == AuthToken.Role.ADMIN;
  }
}
