package io.iqa.demo;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * A {@code docker} for a machine without Docker: it takes the client fallback's own command line
 * ({@code run --rm [--gpus device=N -e GPU_LEASE_ID=ID] -v DIR:/in:ro IMAGE score /in/FILE...}) and
 * runs what the image would run, the sidecar jar's one-shot {@code score}, on the same files, with
 * only the GPU it was given visible. Every run is appended to {@code runs.log} beside it.
 */
final class StandInDocker {

  private StandInDocker() {
  }

  /** @return the folder holding the stand-in {@code docker}, for the fallback's search path */
  static Path write(Path dir, Path sidecarJar) throws IOException {
    Path bin = Files.createDirectories(dir.resolve("bin"));
    Path docker = bin.resolve("docker");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Files.writeString(docker, """
        #!/bin/bash
        # Stand-in docker written by the IQA demo: runs the sidecar image's command without a container.
        echo "docker $*" >> "$(dirname "$0")/runs.log"
        [ "$1 $2" = "run --rm" ] || { echo "stand-in docker: only 'run --rm' is known, not: $*" >&2; exit 64; }
        shift 2
        visible=""
        if [ "$1" = "--gpus" ]; then visible="${2#device=}"; shift 2; fi
        if [ "$1" = "-e" ]; then export "$2"; shift 2; fi
        [ "$1" = "-v" ] || { echo "stand-in docker: expected -v DIR:/in:ro, not: $*" >&2; exit 64; }
        dir="${2%%:/in:ro}"; image="$3"; shift 3
        [ "$1" = "score" ] || { echo "stand-in docker: expected the score command, not: $*" >&2; exit 64; }
        shift
        files=(); for f in "$@"; do files+=("$dir/${f#/in/}"); done
        CUDA_VISIBLE_DEVICES="$visible" exec "%s" -jar "%s" score "${files[@]}"
        """.formatted(java, sidecarJar));
    Files.setPosixFilePermissions(docker, PosixFilePermissions.fromString("rwxr-xr-x"));
    return bin;
  }
}
