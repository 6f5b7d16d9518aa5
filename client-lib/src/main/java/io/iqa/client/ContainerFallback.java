package io.iqa.client;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Scores images with a one-shot container run of the sidecar's {@code score} command when the
 * sidecar is unreachable. The command is an argument list (never a shell line) with placeholders:
 * {@code {dir}} (the images' folder), {@code {image}} (the container image) and {@code {file}}
 * (an image's name; the argument holding it is repeated once per image, so one run scores a whole
 * folder's worth and pays start-up once). The default is
 * {@code docker run --rm --gpus all -v {dir}:/in:ro {image} score /in/{file}}.
 */
public final class ContainerFallback {

  public static final List<String> DEFAULT_COMMAND = List.of("docker", "run", "--rm", "--gpus", "all", "-v",
      "{dir}:/in:ro", "{image}", "score", "/in/{file}");
  public static final String DEFAULT_IMAGE = "iqa-sidecar:latest";

  private final List<String> command;
  private final String image;
  private final long timeoutS;
  private final String searchPath;

  /**
   * @param searchPath where to look for the executable when it has no '/' (default: PATH)
   */
  public ContainerFallback(List<String> command, String image, long timeoutS, String searchPath) {
    if (command.stream().noneMatch(a -> a.contains("{file}"))) {
      throw new IllegalArgumentException("the fallback command needs a {file} argument: " + command);
    }
    this.command = List.copyOf(command);
    this.image = image;
    this.timeoutS = timeoutS;
    this.searchPath = searchPath != null ? searchPath : System.getenv().getOrDefault("PATH", "/usr/bin:/bin");
  }

  /**
   * Scores every file (grouped by folder, one run per folder).
   * @return path -> the score command's JSON line for it
   * @throws IqaException when the executable is missing, times out, or fails without answering
   */
  public Map<Path, JsonNode> score(List<Path> files) {
    Map<Path, List<Path>> byDir = new LinkedHashMap<>();
    for (Path f : files) {
      Path abs = f.toAbsolutePath().normalize();
      byDir.computeIfAbsent(abs.getParent(), d -> new ArrayList<>()).add(abs);
    }
    Map<Path, JsonNode> out = new LinkedHashMap<>();
    byDir.forEach((dir, group) -> out.putAll(run(dir, group)));
    return out;
  }

  private Map<Path, JsonNode> run(Path dir, List<Path> group) {
    List<String> args = new ArrayList<>();
    for (String a : command) {
      if (a.contains("{file}")) {
        for (Path f : group) {
          args.add(fill(a, dir).replace("{file}", f.getFileName().toString()));
        }
      } else {
        args.add(fill(a, dir));
      }
    }
    args.set(0, resolve(args.get(0)));
    Path stderr;
    Process p;
    try {
      stderr = Files.createTempFile("iqa-fallback", ".err");
      p = new ProcessBuilder(args).redirectError(stderr.toFile()).start();
    } catch (IOException e) {
      throw new IqaException("fallback command '" + args.get(0) + "' could not start: " + e.getMessage(), e);
    }
    try {
      p.getOutputStream().close();
      byte[] stdout = p.getInputStream().readAllBytes();
      if (!p.waitFor(timeoutS, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new IqaException("fallback run timed out after " + timeoutS + " s and was killed: " + args);
      }
      Map<String, JsonNode> byName = new LinkedHashMap<>();
      for (String line : new String(stdout, StandardCharsets.UTF_8).split("\n")) {
        if (line.isBlank()) {
          continue;
        }
        try {
          JsonNode j = Http.JSON.readTree(line);
          byName.put(new File(j.path("path").asText()).getName(), j);
        } catch (IOException e) {
          // not a result line (a log line on stdout): ignore it
        }
      }
      Map<Path, JsonNode> out = new LinkedHashMap<>();
      for (Path f : group) {
        JsonNode j = byName.get(f.getFileName().toString());
        if (j == null) {
          throw new IqaException("fallback run " + args + " exited " + p.exitValue() + " without an answer for " + f
              + ": " + tail(stderr));
        }
        out.put(f, j);
      }
      return out;
    } catch (IOException e) {
      throw new IqaException("fallback run failed: " + e.getMessage(), e);
    } catch (InterruptedException e) {
      p.destroyForcibly();
      Thread.currentThread().interrupt();
      throw new IqaException("interrupted while the fallback ran", e);
    } finally {
      p.destroyForcibly();
      try {
        Files.deleteIfExists(stderr);
      } catch (IOException ignored) {
        // temp file
      }
    }
  }

  private String fill(String arg, Path dir) {
    return arg.replace("{dir}", dir.toString()).replace("{image}", image);
  }

  private String resolve(String exe) {
    if (exe.contains("/")) {
      return exe;
    }
    for (String d : searchPath.split(File.pathSeparator)) {
      Path p = Path.of(d, exe);
      if (Files.isExecutable(p)) {
        return p.toString();
      }
    }
    throw new IqaException("fallback executable '" + exe + "' not found on PATH (" + searchPath + "); install it or "
        + "set fallback.command");
  }

  private static String tail(Path file) throws IOException {
    String s = Files.readString(file);
    return s.length() > 800 ? "..." + s.substring(s.length() - 800) : s.isBlank() ? "(no stderr)" : s;
  }
}
