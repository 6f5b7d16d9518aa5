package io.iqa.sidecar.service;

import io.iqa.protocol.config.Range;
import java.nio.file.Path;
import java.util.List;

/**
 * The sidecar's {@code worker} block: how its worker JVMs are started and watched.
 *
 * @param jvmArgs extra JVM arguments for the worker process (e.g. -Xmx4g)
 * @param startTimeoutS how long the worker may take to start and load the models
 * @param warmup whether the worker runs one batch per model before it serves
 * @param heartbeatTimeoutS a serving worker silent this long (it sends a heartbeat every second) is
 *     taken for hung (stopped, deadlocked), killed and replaced
 * @param jobTimeoutS an image sent to the worker without an answer this long makes it hung
 * @param classArchive whether the worker's classes are kept in a class archive (faster starts)
 * @param classArchiveDir where it is kept: {@code $XDG_CACHE_HOME/iqa/class-archives}, else
 *     {@code ~/.cache/iqa/class-archives}
 */
public record WorkerOptions(List<String> jvmArgs, @Range(min = 1, max = 86_400) long startTimeoutS, boolean warmup,
    @Range(min = 2, max = 3600) long heartbeatTimeoutS, @Range(min = 1, max = 86_400) long jobTimeoutS,
    boolean classArchive, Path classArchiveDir) {

  static final WorkerOptions DEFAULTS = new WorkerOptions(List.of(), 300, true, 10, 300, true, defaultClassArchiveDir());

  public WorkerOptions {
    jvmArgs = List.copyOf(jvmArgs);
  }

  /** @return where the class archive is kept, or null when it is off ({@code class_archive: false}) */
  public Path archiveDir() {
    return classArchive ? classArchiveDir : null;
  }

  private static Path defaultClassArchiveDir() {
    String xdg = System.getenv("XDG_CACHE_HOME");
    Path cache = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
    return cache.resolve("iqa").resolve("class-archives");
  }
}
