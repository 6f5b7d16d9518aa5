package io.iqa.sidecar.service;

import io.iqa.protocol.Sha256;
import io.vertx.core.json.JsonObject;
import java.io.File;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.jar.JarFile;
import java.util.jar.Manifest;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The worker's class-data-sharing archive (AppCDS; the JVM's dynamic archive): the classes a worker
 * loads, parsed and verified once and mapped into every later worker, so that a worker started at a
 * hand-off reaches its models sooner (about 0.4 s of a 1.2 s JVM start on this project's bench
 * machine). It is made by a <em>training</em> worker: an ordinary worker on CPU (no GPU visible)
 * that loads the configured models, warms them up, stops, and lets its JVM write the archive as it
 * exits; the sidecar runs one only while it has no worker of its own (idle, or yielded), and kills it
 * the moment a real worker starts. Its file name is a digest of everything the archive depends on
 * (the JDK, the worker's JVM arguments, and every jar on the classpath with its size and
 * modification time), so a new build or JDK makes a new archive and never maps a stale one; older
 * archives in the folder are deleted. Off ({@code worker.class_archive: false}, or a classpath
 * with class folders, which the JVM cannot archive), workers start as before.
 */
final class WorkerClassArchive {

  private static final Logger LOG = LoggerFactory.getLogger(WorkerClassArchive.class);
  private static final String PREFIX = "worker-";
  private static final String SUFFIX = ".jsa";

  /** Where it is; null when off. */
  private final Path file;
  private String state;

  private WorkerClassArchive(Path file, String state) {
    this.file = file;
    this.state = state;
  }

  /** @param dir the folder (worker.class_archive_dir); null: off */
  static WorkerClassArchive of(Path dir, List<String> workerJvmArgs) {
    return of(dir, List.of(System.getProperty("java.class.path").split(File.pathSeparator)), workerJvmArgs);
  }

  /** @param classpath the worker's classpath entries */
  static WorkerClassArchive of(Path dir, List<String> classpath, List<String> workerJvmArgs) {
    if (dir == null) {
      return new WorkerClassArchive(null, "off (worker.class_archive is false)");
    }
    String key;
    try {
      key = key(classpath, workerJvmArgs);
    } catch (IOException e) {
      return new WorkerClassArchive(null, "off (" + e.getMessage() + ")");
    }
    Path f = dir.resolve(PREFIX + key + SUFFIX);
    return new WorkerClassArchive(f, Files.isRegularFile(f) ? "ready" : "missing");
  }

  /**
   * A digest of what a dynamic archive depends on. @throws IOException naming why there can be none
   * (a class folder on the classpath)
   */
  static String key(List<String> classpath, List<String> workerJvmArgs) throws IOException {
    StringBuilder sb = new StringBuilder(System.getProperty("java.home")).append('|')
        .append(System.getProperty("java.vm.version")).append('|').append(String.join(" ", workerJvmArgs))
        // Options the JVM reads from the environment (a collector, say) decide whether it can map the archive too.
        .append('|').append(System.getenv("JDK_JAVA_OPTIONS")).append('|').append(System.getenv("JAVA_TOOL_OPTIONS"));
    for (String entry : classpath) {
      Path p = Path.of(entry).toAbsolutePath().normalize();
      if (Files.isDirectory(p)) {
        throw new IOException("the classpath has class folders (" + p + "); the JVM archives classes from jars only");
      }
      append(sb, p);
      for (Path dep : manifestClassPath(p)) {
        append(sb, dep);
      }
    }
    return Sha256.hex(sb.toString()).substring(0, 16);
  }

  private static void append(StringBuilder sb, Path p) throws IOException {
    sb.append('|').append(p);
    if (Files.exists(p)) {
      sb.append(':').append(Files.size(p)).append(':').append(Files.getLastModifiedTime(p).toMillis());
    }
  }

  /** @return the jars a jar's manifest adds to the classpath (how the sidecar's thin jar names its lib/ folder) */
  private static List<Path> manifestClassPath(Path jar) throws IOException {
    List<Path> out = new ArrayList<>();
    if (!Files.isRegularFile(jar)) {
      return out;
    }
    try (JarFile j = new JarFile(jar.toFile())) {
      Manifest m = j.getManifest();
      String cp = m == null ? null : m.getMainAttributes().getValue("Class-Path");
      if (cp != null) {
        for (String rel : cp.trim().split("\\s+")) {
          out.add(jar.resolveSibling(rel).normalize());
        }
      }
    }
    return out;
  }

  /** @return the JVM arguments a worker starts with: the archive when there is one */
  synchronized List<String> jvmArgs() {
    return file != null && state.equals("ready") && Files.isRegularFile(file)
        ? List.of("-XX:SharedArchiveFile=" + file, "-Xshare:auto") : List.of();
  }

  /** @return whether a training worker should be started now: on, missing, not being made */
  synchronized boolean wanted() {
    return file != null && state.equals("missing");
  }

  /**
   * Takes the folder's lock for making it (another sidecar may share the folder). Blocking (file
   * work). @return the lock and the file the training worker writes, or null when another holds it or
   * the folder cannot be used (then the archive stays off)
   */
  synchronized Making begin() {
    if (!wanted()) {
      return null;
    }
    try {
      Files.createDirectories(file.getParent());
      FileChannel ch = FileChannel.open(file.resolveSibling(file.getFileName() + ".lock"), StandardOpenOption.CREATE,
          StandardOpenOption.WRITE);
      FileLock lock = ch.tryLock();
      if (lock == null) {
        ch.close();
        return null;
      }
      if (Files.isRegularFile(file)) { // made by another sidecar meanwhile
        lock.release();
        ch.close();
        state = "ready";
        return null;
      }
      state = "making";
      Path tmp = file.resolveSibling(file.getFileName() + ".tmp-" + ProcessHandle.current().pid());
      Files.deleteIfExists(tmp);
      return new Making(tmp, ch);
    } catch (IOException e) {
      state = "off (" + file.getParent() + " cannot be used: " + e.getMessage() + ")";
      LOG.warn("the worker's class archive is off: {}", state);
      return null;
    }
  }

  /** A training worker's output file and the lock held while it runs. */
  final class Making {
    final Path tmp;
    private final FileChannel lock;
    private final long startedNanos = System.nanoTime();

    private Making(Path tmp, FileChannel lock) {
      this.tmp = tmp;
      this.lock = lock;
    }

    /**
     * The training worker is gone. Blocking (file work). @param exitCode 0 after a clean stop
     * @param why null when it ended on its own, else why it was ended (it is tried again later)
     */
    void end(int exitCode, String why) {
      try {
        if (why == null && exitCode == 0 && Files.isRegularFile(tmp) && Files.size(tmp) > 0) {
          Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
          deleteOthers();
          LOG.info("made the worker's class archive in {} ms: {} ({} MiB); workers start from it from now on",
              (System.nanoTime() - startedNanos) / 1_000_000, file, Files.size(file) >> 20);
          setState("ready");
        } else {
          Files.deleteIfExists(tmp);
          String reason = why != null ? why : "the training worker exited with code " + exitCode;
          LOG.info("the worker's class archive was not made ({}); tried again when the sidecar is next without a worker",
              reason);
          setState(why != null ? "missing" : "failed (" + reason + ")");
        }
      } catch (IOException e) {
        setState("failed (" + e.getMessage() + ")");
        LOG.warn("the worker's class archive could not be kept: {}", e.getMessage());
      } finally {
        try {
          lock.close();
        } catch (IOException ignored) {
          // the lock goes with the channel, or with the process
        }
      }
    }
  }

  private synchronized void setState(String s) {
    state = s;
  }

  private void deleteOthers() throws IOException {
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(file.getParent(), PREFIX + "*")) {
      for (Path p : ds) {
        String n = p.getFileName().toString();
        boolean same = n.startsWith(file.getFileName().toString());
        if (!same && (n.endsWith(SUFFIX) || n.endsWith(SUFFIX + ".lock"))) {
          Files.deleteIfExists(p);
        }
      }
    }
  }

  /** @return where it is (or would be); null when off */
  Path file() {
    return file;
  }

  /** The /health part: where it is and whether workers start from it. */
  synchronized JsonObject health() {
    return new JsonObject().put("state", state).put("file", file == null ? null : file.toString());
  }
}
