package io.iqa.sidecar.service;

import io.iqa.protocol.config.ConfigNode;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * The sidecar's {@code worker} block: how its worker JVMs are started and watched.
 *
 * @param jvmArgs extra JVM arguments for the worker process (e.g. -Xmx4g)
 * @param startTimeoutS how long the worker may take to start and load the models
 * @param warmup whether the worker runs one batch per model before it serves
 * @param classArchiveDir where the worker's class archive is kept ({@code class_archive_dir}); null
 *     when it is off ({@code class_archive: false})
 * @param heartbeatTimeoutS a serving worker silent this long (it sends a heartbeat every second) is
 *     taken for hung (stopped, deadlocked), killed and replaced
 * @param jobTimeoutS an image sent to the worker without an answer this long makes it hung
 */
public record WorkerOptions(List<String> jvmArgs, long startTimeoutS, boolean warmup, Path classArchiveDir,
    long heartbeatTimeoutS, long jobTimeoutS) {

  static final Set<String> KEYS = Set.of("jvm_args", "start_timeout_s", "warmup", "heartbeat_timeout_s",
      "job_timeout_s", "class_archive", "class_archive_dir");

  public WorkerOptions {
    jvmArgs = List.copyOf(jvmArgs);
  }

  /** Reads the {@code worker} block, every key checked. */
  static WorkerOptions parse(ConfigNode worker) {
    worker.known(KEYS);
    String archiveDir = worker.string("class_archive_dir", null);
    return new WorkerOptions(worker.strings("jvm_args", List.of()), worker.integer("start_timeout_s", 300, 1, 86_400),
        worker.bool("warmup", true), !worker.bool("class_archive", true) ? null
            : archiveDir != null ? Path.of(archiveDir) : defaultClassArchiveDir(),
        worker.integer("heartbeat_timeout_s", 10, 2, 3600), worker.integer("job_timeout_s", 300, 1, 86_400));
  }

  /** {@code $XDG_CACHE_HOME/iqa/class-archives}, else {@code ~/.cache/iqa/class-archives}. */
  private static Path defaultClassArchiveDir() {
    String xdg = System.getenv("XDG_CACHE_HOME");
    Path cache = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
    return cache.resolve("iqa").resolve("class-archives");
  }
}
