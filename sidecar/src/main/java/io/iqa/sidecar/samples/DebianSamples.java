package io.iqa.sidecar.samples;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Published images that Debian packages ship (OpenCV's BRISQUE test image in {@code opencv-doc},
 * real photos in {@code plasma-workspace-wallpapers}), for tests and benchmarks, fetched once into
 * {@code ~/.cache/iqa-test-data}:
 * taken from the installed package when it is there, else downloaded with {@code apt-get download}
 * and unpacked with {@code dpkg-deb} (no installation, no root needed).
 */
public final class DebianSamples {

  private DebianSamples() {
  }

  /**
   * @param pathInPackage the file's absolute path as the package installs it
   * @return a readable copy of it
   * @throws IOException naming the commands that failed, when it cannot be had
   */
  public static Path file(String pkg, String pathInPackage) throws IOException, InterruptedException {
    Path installed = Path.of(pathInPackage);
    if (Files.isReadable(installed)) {
      return installed;
    }
    Path cache = Path.of(System.getProperty("user.home"), ".cache", "iqa-test-data", pkg);
    // The whole path names the copy: packages ship many files of one name (5120x2880.jpg).
    Path cached = cache.resolve(pathInPackage.substring(1).replace('/', '_'));
    if (Files.isReadable(cached) && Files.size(cached) > 0) {
      return cached;
    }
    Files.createDirectories(cache);
    Path work = Files.createTempDirectory(cache, "download");
    try {
      run(work, "apt-get", "download", pkg);
      Path deb;
      try (var list = Files.list(work)) {
        deb = list.filter(p -> p.toString().endsWith(".deb")).findFirst()
            .orElseThrow(() -> new IOException("apt-get download " + pkg + " left no .deb in " + work));
      }
      Path partial = cached.resolveSibling(cached.getFileName() + ".part");
      run(work, "sh", "-c", "dpkg-deb --fsys-tarfile '" + deb + "' | tar -xO '." + pathInPackage + "' > '" + partial
          + "'");
      Files.move(partial, cached, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
      return cached;
    } finally {
      try (var walk = Files.walk(work)) {
        walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  private static void run(Path dir, String... cmd) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    if (!p.waitFor(300, TimeUnit.SECONDS) || p.exitValue() != 0) {
      p.destroyForcibly();
      throw new IOException(String.join(" ", cmd) + " failed: " + out.strip());
    }
  }
}
