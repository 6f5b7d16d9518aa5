package io.iqa.testkit;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * A {@code docker} for the tests and the demo: the project's {@code scripts/stand-in-docker} (run with a cidfile,
 * kill, inspect, wait; the container a process group of its own, outside the client's), whose
 * container is the test's script: it gets {@code docker run}'s arguments after {@code --cidfile FILE}.
 */
public final class StandInDocker {

  private StandInDocker() {
  }

  /** The repository's root: tests run in their module's folder. */
  public static Path root() {
    return Path.of("").toAbsolutePath().getParent();
  }

  /**
   * Writes {@code bin/docker} and {@code bin/container} ({@code containerScript}, a bash script).
   * @return {@code bin}, for the fallback's search path; calls are logged to {@code bin/stand-in-docker.log}
   */
  public static Path write(Path bin, String containerScript) throws IOException {
    return write(bin, containerScript, root());
  }

  /** {@link #write(Path, String)} with the project's scripts under {@code root}. */
  public static Path write(Path bin, String containerScript, Path root) throws IOException {
    Files.createDirectories(bin);
    executable(bin.resolve("container"), containerScript);
    executable(bin.resolve("docker"), """
        #!/bin/bash
        STAND_IN_DOCKER_CONTAINER="$(dirname "$0")/container" exec "%s" "$@"
        """.formatted(root.resolve("scripts/stand-in-docker")));
    return bin;
  }

  private static void executable(Path file, String script) throws IOException {
    Files.writeString(file, script);
    Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
  }
}
