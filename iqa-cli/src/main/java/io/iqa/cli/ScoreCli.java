package io.iqa.cli;

import io.iqa.client.IqaClient;
import io.iqa.protocol.ScoreScale;
import io.iqa.protocol.Text;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/** {@code iqa score [--json|--csv] PATH|DIR...}: a table on stdout, progress on stderr. */
@Command(name = "score", mixinStandardHelpOptions = true, description = "Score image files (folders: recursively).")
final class ScoreCli implements Callable<Integer> {

  private static final Set<String> EXTENSIONS = Set.of("jpg", "jpeg", "png", "bmp", "gif", "webp");

  @ParentCommand IqaMain main;
  @Option(names = "--json", description = "one JSON object per line") boolean json;
  @Option(names = "--csv", description = "CSV with a header row") boolean csv;
  @Option(names = "--no-progress", description = "no progress bar on stderr") boolean noProgress;
  @Option(names = "--models", split = ",", paramLabel = "NAME",
      description = "only these models (default: the config's models, else all the sidecar has)") List<String> models;
  @Option(names = "--output", paramLabel = "FILE", description = "write the scores to FILE (UTF-8) instead of "
      + "stdout; FILE is replaced only once every image has its row") Path output;
  @Parameters(arity = "1..*", paramLabel = "PATH", description = "image files or folders") List<Path> paths;

  @Override
  public Integer call() throws IOException {
    List<Path> images = new ArrayList<>();
    for (Path p : paths) {
      if (!Files.exists(p)) {
        main.err().println("iqa: no such file or folder: " + Text.printable(p.toString()));
        return IqaMain.USAGE;
      }
      if (Files.isDirectory(p)) {
        images.addAll(imagesUnder(p));
      } else {
        images.add(p); // scored, or refused on its own line when it is not a regular file (a FIFO, a device)
      }
    }
    if (images.isEmpty()) {
      main.err().println("iqa: no images (" + String.join(", ", EXTENSIONS) + ") under " + paths);
      return IqaMain.USAGE;
    }
    Progress progress = new Progress(main.err(), images.size(), !noProgress && images.size() > 1);
    Map<Path, IqaClient.Outcome> outcomes = new LinkedHashMap<>();
    Map<String, ScoreScale> scales;
    try (IqaClient client = main.config(models == null ? Map.of() : Map.of("models", models)).clientBuilder()
        .build()) {
      // Chunks keep the progress bar moving while scoreAll batches the fallback per chunk.
      for (int from = 0; from < images.size(); from += 16) {
        List<Path> chunk = images.subList(from, Math.min(images.size(), from + 16));
        outcomes.putAll(client.scoreAll(chunk));
        progress.advance(chunk.size());
      }
      scales = json || csv ? Map.of() : client.modelScales();
    }
    progress.done();
    ScoreOutput format = json ? ScoreOutput.JSON : csv ? ScoreOutput.CSV : ScoreOutput.TABLE;
    if (output == null) {
      format.print(main.out(), outcomes, scales, Path::toString);
    } else {
      // Written beside, then moved over FILE: a reader never sees half a file.
      Path tmp = Files.createTempFile(output.toAbsolutePath().getParent(), ".iqa-", ".tmp");
      try (PrintWriter file = new PrintWriter(Files.newBufferedWriter(tmp, StandardCharsets.UTF_8))) {
        format.print(file, outcomes, scales, Path::toString);
      }
      Files.move(tmp, output, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      main.err().println("iqa: " + outcomes.size() + " image(s) scored into " + Text.printable(output.toString()));
    }
    long failed = outcomes.values().stream().filter(o -> o.result() == null).count();
    if (failed == outcomes.size()
        && outcomes.values().stream().allMatch(o -> o.failure() == IqaClient.Failure.UNAVAILABLE)) {
      return IqaMain.UNREACHABLE;
    }
    return failed == 0 ? IqaMain.OK : IqaMain.PARTLY_FAILED;
  }

  /**
   * The image files under a folder, sorted; a subfolder that cannot be read is skipped with a
   * warning, and only regular files count (a FIFO or a device is never opened).
   */
  private List<Path> imagesUnder(Path dir) throws IOException {
    List<Path> found = new ArrayList<>();
    Files.walkFileTree(dir, new SimpleFileVisitor<>() {
      @Override
      public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
        if (attrs.isRegularFile() && isImage(file)) {
          found.add(file);
        }
        return FileVisitResult.CONTINUE;
      }

      @Override
      public FileVisitResult visitFileFailed(Path file, IOException e) {
        main.err().println("iqa: skipping " + Text.printable(file.toString()) + ": cannot read it ("
            + Text.printable(e.getClass().getSimpleName()) + ")");
        return FileVisitResult.CONTINUE;
      }
    });
    found.sort(null);
    return found;
  }

  private static boolean isImage(Path p) {
    String name = p.getFileName().toString().toLowerCase(Locale.ROOT);
    int dot = name.lastIndexOf('.');
    return dot > 0 && EXTENSIONS.contains(name.substring(dot + 1));
  }

  /** A one-line progress bar on stderr. */
  private static final class Progress {
    private final PrintWriter err;
    private final int total;
    private final boolean show;
    private int done;

    Progress(PrintWriter err, int total, boolean show) {
      this.err = err;
      this.total = total;
      this.show = show;
      draw();
    }

    void advance(int n) {
      done += n;
      draw();
    }

    void done() {
      if (show) {
        err.println();
      }
    }

    private void draw() {
      if (!show) {
        return;
      }
      int width = 30;
      int filled = total == 0 ? width : done * width / total;
      err.print("\r[" + "#".repeat(filled) + " ".repeat(width - filled) + "] " + done + "/" + total + " images");
      err.flush();
    }
  }
}
