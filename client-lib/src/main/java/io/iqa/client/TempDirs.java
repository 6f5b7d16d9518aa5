package io.iqa.client;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Temporary folders a process makes for its children, named after itself ({@code PREFIX-PID-...}),
 * so that what a child leaves behind (it was killed, or halted without its exit hooks: ONNX
 * Runtime's extracted library, Vert.x's cache) goes with its folder, and a folder whose maker is
 * gone (killed itself) is swept by the next one.
 */
public final class TempDirs {

  private TempDirs() {
  }

  /** @return a new folder {@code PREFIX-PID-...} in {@code java.io.tmpdir}, rwx for this user only */
  public static Path create(String prefix) throws IOException {
    return Files.createTempDirectory(prefix + "-" + ProcessHandle.current().pid() + "-");
  }

  /** Deletes {@code dir} and all it holds, as far as it can (it is temporary). */
  public static void delete(Path dir) {
    if (dir == null || !Files.exists(dir)) {
      return;
    }
    try (var files = Files.walk(dir)) {
      files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException | RuntimeException ignored) {
      // what is left is temporary
    }
  }

  /** Deletes the {@code PREFIX-PID-...} folders in {@code java.io.tmpdir} whose process no longer runs. @return how many */
  public static int sweep(String prefix) {
    Pattern name = Pattern.compile(Pattern.quote(prefix) + "-(\\d+)-.*");
    int swept = 0;
    try (var dirs = Files.list(Path.of(System.getProperty("java.io.tmpdir")))) {
      for (Path d : (Iterable<Path>) dirs::iterator) {
        Matcher m = name.matcher(d.getFileName().toString());
        if (m.matches() && Files.isDirectory(d) && ProcessHandle.of(Long.parseLong(m.group(1))).isEmpty()) {
          delete(d);
          swept++;
        }
      }
    } catch (IOException | RuntimeException ignored) {
      // nothing to sweep
    }
    return swept;
  }
}
