package io.iqa.testkit;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * A stand-in {@code nvidia-smi} in its own folder, for a test PATH: it answers the broker's queries
 * (devices and their uuids, compute apps) from what the test last {@link #show}ed, as the real one
 * answers from the driver. Every call is appended to {@code calls.log}.
 */
public final class StandInNvidiaSmi {

  /** One process the stand-in lists: on {@code gpu}, holding {@code usedMb}. */
  public record App(int gpu, long pid, int usedMb) {
  }

  public final Path dir;
  private final Path apps;

  public StandInNvidiaSmi(Path dir, Map<Integer, Integer> vramMbByGpu) throws IOException {
    this.dir = Files.createDirectories(dir);
    this.apps = dir.resolve("apps.csv");
    StringBuilder gpus = new StringBuilder();
    StringBuilder uuids = new StringBuilder();
    vramMbByGpu.forEach((index, mb) -> {
      gpus.append(index).append(", ").append(mb).append('\n');
      uuids.append(index).append(", ").append(uuid(index)).append('\n');
    });
    Files.writeString(dir.resolve("gpus.csv"), gpus);
    Files.writeString(dir.resolve("uuids.csv"), uuids);
    show(List.of());
    Path script = dir.resolve("nvidia-smi");
    Files.writeString(script, """
        #!/bin/sh
        here="$(dirname "$0")"
        echo "$*" >> "$here/calls.log"
        case "$1" in
          --query-gpu=index,memory.total) cat "$here/gpus.csv" ;;
          --query-gpu=index,uuid) cat "$here/uuids.csv" ;;
          --query-compute-apps=gpu_uuid,pid,used_memory)
            if [ -x "$here/apps.sh" ]; then "$here/apps.sh"; else cat "$here/apps.csv"; fi ;;
          *) echo "stand-in nvidia-smi: unexpected arguments: $*" >&2; exit 9 ;;
        esac
        """);
    Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwxr-xr-x"));
  }

  /**
   * From now on the stand-in lists, as the driver would, every live process of this host whose
   * environment holds {@code GPU_LEASE_ID} and {@code CUDA_VISIBLE_DEVICES=gpu}: a process started
   * for a lease on {@code gpu} (a sidecar worker, an {@code iqa gpu run} child), using {@code usedMb}.
   * Only processes of this test count: those whose environment holds {@link #scopeEnv()} (tests
   * run side by side; each one's stand-in must not see the others' workers).
   */
  public void showLeasedProcesses(int gpu, int usedMb) throws IOException {
    Path script = dir.resolve("apps.sh");
    Files.writeString(script, """
        #!/bin/bash
        for d in /proc/[0-9]*; do
          env="$(tr '\\0' '\\n' < "$d/environ" 2>/dev/null)" || continue
          if grep -q '^GPU_LEASE_ID=' <<< "$env" && grep -qx 'CUDA_VISIBLE_DEVICES=%d' <<< "$env" \
              && grep -qxF 'IQA_TEST_GPU_SCOPE=%s' <<< "$env"; then
            echo "%s, ${d#/proc/}, %d"
          fi
        done
        """.formatted(gpu, dir, uuid(gpu), usedMb));
    Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwxr-xr-x"));
  }

  /**
   * From now on the stand-in lists, as the driver would, every live process that wrote a file
   * {@code <memDir>/<pid>} holding {@code "<gpu> <MiB>"}: a stand-in model server's memory, which
   * it writes while loaded and shrinks or deletes when it sleeps.
   */
  public void showMemoryFiles(Path memDir) throws IOException {
    Files.createDirectories(memDir);
    Path script = dir.resolve("apps.sh");
    Files.writeString(script, """
        #!/bin/bash
        for f in %s/*; do
          pid="${f##*/}"
          [[ "$pid" =~ ^[0-9]+$ ]] && [ -d "/proc/$pid" ] || continue
          read -r gpu mb < "$f" || continue
          echo "GPU-0000000${gpu}-1111-2222-3333-444444444444, $pid, $mb"
        done
        """.formatted(memDir));
    Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwxr-xr-x"));
  }

  /** From now on the stand-in lists exactly these processes. */
  public void show(List<App> list) throws IOException {
    Files.deleteIfExists(dir.resolve("apps.sh"));
    String csv = list.stream().map(a -> uuid(a.gpu()) + ", " + a.pid() + ", " + a.usedMb() + "\n")
        .collect(Collectors.joining());
    Path tmp = Files.writeString(dir.resolve("apps.tmp"), csv);
    Files.move(tmp, apps, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
  }

  /** @return the PATH with the stand-in first, for a process's environment */
  public Map<String, String> pathEnv() {
    return Map.of("PATH", dir + ":" + System.getenv().getOrDefault("PATH", "/usr/bin:/bin"));
  }

  /** @return the variable that makes a process (and its children) one of this test's, for {@link #showLeasedProcesses} */
  public Map<String, String> scopeEnv() {
    return Map.of("IQA_TEST_GPU_SCOPE", dir.toString());
  }

  /** @return how often the stand-in was asked for the compute apps */
  public long sampleCount() throws IOException {
    Path log = dir.resolve("calls.log");
    return Files.exists(log) ? Files.readAllLines(log).stream().filter(l -> l.contains("compute-apps")).count() : 0;
  }

  private static String uuid(int index) {
    return "GPU-0000000" + index + "-1111-2222-3333-444444444444";
  }
}
