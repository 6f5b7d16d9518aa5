package io.iqa.client;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.iqa.protocol.Sha256;
import io.iqa.protocol.Text;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The client's per-image cache: scores by content hash (and the requested model list), bounded;
 * optionally persisted as JSON lines in a directory so a rerun of the same job sends nothing it
 * already scored. A file whose size and modification time are unchanged is not hashed again.
 */
final class ScoreCache {

  private static final Logger LOG = LoggerFactory.getLogger(ScoreCache.class);
  private static final String FILE = "iqa-scores.jsonl";

  private final Cache<String, ScoreResult> scores;
  private final Map<Path, Stat> hashes = new ConcurrentHashMap<>();
  private final Path file;

  private record Stat(long size, long mtime, String sha256) {
  }

  ScoreCache(long maxEntries, Path dir) {
    this.scores = Caffeine.newBuilder().maximumSize(maxEntries).build();
    this.file = dir == null ? null : dir.resolve(FILE);
    if (file != null) {
      load();
    }
  }

  /**
   * The file's SHA-256, or a {@link LocalFileException}: a file that is missing, unreadable or not a
   * regular file (a FIFO would block the reader forever) is the file's problem, not the sidecar's.
   */
  String readableSha256(Path image) {
    String shown = Text.printable(image.toString());
    try {
      if (!Files.readAttributes(image, BasicFileAttributes.class).isRegularFile()) {
        throw new LocalFileException("not a regular file (a folder, a FIFO or a device): " + shown, "not_a_file", null);
      }
      return sha256(image);
    } catch (NoSuchFileException e) {
      throw new LocalFileException("no such file: " + shown, "not_found", e);
    } catch (IOException e) {
      throw new LocalFileException("cannot read " + shown + ": " + Text.printable(e.getMessage()), "unreadable", e);
    }
  }

  /** The file's SHA-256, computed only when its size or mtime changed since last time. */
  private String sha256(Path path) throws IOException {
    Path abs = path.toAbsolutePath().normalize();
    long size = Files.size(abs);
    long mtime = Files.getLastModifiedTime(abs).toMillis();
    Stat known = hashes.get(abs);
    if (known != null && known.size == size && known.mtime == mtime) {
      return known.sha256;
    }
    String sha = Sha256.hex(Files.readAllBytes(abs));
    hashes.put(abs, new Stat(size, mtime, sha));
    return sha;
  }

  ScoreResult get(String sha256, String models) {
    ScoreResult r = scores.getIfPresent(key(sha256, models));
    return r == null ? null : r.servedFromCache();
  }

  private boolean persistFailing;

  void put(String models, ScoreResult result) {
    scores.put(key(result.sha256(), models), result);
    if (file != null) {
      ObjectNode line = Http.object().put("sha256", result.sha256()).put("models", models).put("device", result.device());
      ObjectNode s = line.putObject("scores");
      result.scores().forEach(s::put);
      synchronized (this) {
        try {
          // After a failed write the file may end in a partial line: start on a new one.
          Files.writeString(file, (persistFailing ? "\n" : "") + line + "\n", StandardCharsets.UTF_8,
              StandardOpenOption.CREATE, StandardOpenOption.APPEND);
          if (persistFailing) {
            persistFailing = false;
            LOG.info("the score cache {} is written again", file);
          }
        } catch (IOException e) {
          // The score itself is good: it is answered and kept in memory; only a rerun after this
          // process will score it again. Said once, not per image.
          if (!persistFailing) {
            persistFailing = true;
            LOG.warn("cannot write the score cache {} ({}): scores are kept in memory only until it can be written "
                + "again", file, e.getMessage());
          }
        }
      }
    }
  }

  long size() {
    return scores.estimatedSize();
  }

  private void load() {
    try {
      Files.createDirectories(file.getParent());
      if (!Files.exists(file)) {
        return;
      }
      int n = 0;
      for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
        if (line.isBlank()) {
          continue;
        }
        try {
          JsonNode j = Http.JSON.readTree(line);
          scores.put(key(j.path("sha256").asText(), j.path("models").asText()), ScoreResult.fromJson(j, "cache"));
          n++;
        } catch (IOException e) {
          LOG.warn("skipping a damaged line in {}", file);
        }
      }
      LOG.info("loaded {} cached score(s) from {}", n, file);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the score cache " + file, e);
    }
  }

  private static String key(String sha256, String models) {
    return sha256 + "|" + models;
  }
}
