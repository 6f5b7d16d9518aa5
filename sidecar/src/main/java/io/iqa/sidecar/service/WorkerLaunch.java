package io.iqa.sidecar.service;

import io.iqa.client.ChildProcess;
import io.iqa.sidecar.worker.WorkerMain;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * What a worker process starts with, and its command line.
 *
 * @param init the INIT header (config, limits)
 * @param warmupImage the image its warm-up scores (made once by the front), sent as INIT's payload
 * @param env added to the worker's environment (the lease's GPU, or no GPU at all)
 * @param archiveAtExit where its JVM writes a class archive as it exits (a training worker, {@link
 *     WorkerClassArchive}); null for any other
 * @param runtimes the native runtimes the config needs: the worker loads them from its first moment
 */
record WorkerLaunch(JsonObject init, Supplier<byte[]> warmupImage, Map<String, String> env, List<String> jvmArgs,
    long timeoutMs, Path archiveAtExit, List<String> runtimes) {

  /** Workers' temporary folders: {@code iqa-worker-FRONTPID-...} in the front's java.io.tmpdir. */
  static final String TMP_PREFIX = "iqa-worker";

  /** A worker's temporary folder ({@code null}: none) goes with it, off the event loop: it may hold large files. */
  static void deleteTmp(Vertx vertx, Path dir) {
    if (dir != null) {
      vertx.executeBlocking(() -> {
        io.iqa.client.TempDirs.delete(dir);
        return null;
      }, false);
    }
  }

  /** @return whether the worker's JVM maps a class archive */
  boolean usesArchive() {
    return jvmArgs.stream().anyMatch(a -> a.startsWith("-XX:SharedArchiveFile="));
  }

  /**
   * The worker's process: the front's JVM and class path, in its own process group with a
   * parent-death signal; stdin and stdout are the frames' pipes, stderr the front's log; its
   * temporary files in {@code tmpDir}, which the front deletes when it exits (a worker is killed or
   * halted, so its own exit hooks never clean up: ONNX Runtime's extracted library alone is 20 MB).
   */
  ProcessBuilder processBuilder(Path tmpDir) {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.add("-XX:+ExitOnOutOfMemoryError"); // a worker out of memory exits (and is replaced), never lingers deaf
    // The worker's stdout carries frames: the JVM's own messages and logs go to stderr.
    cmd.addAll(List.of("-XX:+DisplayVMOutputToStderr", "-Xlog:disable", "-Xlog:all=warning:stderr"));
    cmd.add("-Djava.io.tmpdir=" + tmpDir);
    cmd.addAll(jvmArgs);
    if (archiveAtExit != null) {
      // The dump lists every class it cannot keep (generated accessors, JFR events) as a warning: not for the log.
      cmd.addAll(List.of("-XX:ArchiveClassesAtExit=" + archiveAtExit, "-Xlog:cds=off:stderr",
          "-Xlog:cds+dynamic=off:stderr"));
    }
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), WorkerMain.class.getName()));
    cmd.add(String.join(",", runtimes));
    ProcessBuilder pb = new ProcessBuilder(ChildProcess.wrap(cmd, "KILL"));
    pb.environment().putAll(env);
    // OpenCV writes its INFO lines to stdout: they would only be stepped over there.
    pb.environment().putIfAbsent("OPENCV_LOG_LEVEL", "WARNING");
    pb.redirectError(ProcessBuilder.Redirect.INHERIT);
    return pb;
  }
}
