package io.iqa.demo;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A {@code docker} for a machine without Docker: the project's {@code scripts/stand-in-docker} (run
 * with a cidfile, kill, inspect, wait, the "container" a process outside the client's process
 * group), whose container takes the client fallback's own arguments ({@code [--gpus device=N -e
 * GPU_LEASE_ID=ID] -v DIR:/in:ro IMAGE score /in/FILE...}) and runs what the image would run, the
 * sidecar jar's one-shot {@code score}, on the same files, with only the GPU it was given visible.
 * Every call is appended to {@code stand-in-docker.log} beside it.
 */
final class StandInDocker {

  private StandInDocker() {
  }

  /** @return the folder holding the stand-in {@code docker}, for the fallback's search path */
  static Path write(Path dir, Path root, Path sidecarJar) throws IOException {
    Path bin = Files.createDirectories(dir.resolve("bin"));
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    return io.iqa.testkit.StandInDocker.write(bin, """
        #!/bin/bash
        # The stand-in container of the IQA demo: what the sidecar image runs, without a container.
        visible=""
        if [ "$1" = "--gpus" ]; then visible="${2#device=}"; shift 2; fi
        if [ "$1" = "-e" ]; then export "$2"; shift 2; fi
        [ "$1" = "-v" ] || { echo "stand-in container: expected -v DIR:/in:ro, not: $*" >&2; exit 64; }
        dir="${2%%:/in:ro}"; image="$3"; shift 3
        [ "$1" = "score" ] || { echo "stand-in container: expected the score command, not: $*" >&2; exit 64; }
        shift
        files=(); for f in "$@"; do files+=("$dir/${f#/in/}"); done
        CUDA_VISIBLE_DEVICES="$visible" exec "%s" -jar "%s" score "${files[@]}"
        """.formatted(java, sidecarJar), root);
  }
}
