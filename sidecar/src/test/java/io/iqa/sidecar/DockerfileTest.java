package io.iqa.sidecar;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Docker is not available where the tests run, so the Dockerfiles are kept correct by reading:
 * each must copy every module's pom (the reactor reads them all) and the sources of the sidecar
 * and of every module it depends on, as the poms say today; and the image must get the jar and
 * its lib/ folder. A module added to the build without its COPY lines fails here, not in a user's
 * docker build.
 */
class DockerfileTest {

  private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
  private static final Pattern MODULE = Pattern.compile("<module>([^<]+)</module>");
  private static final Pattern OWN_ID = Pattern.compile("</parent>\\s*<artifactId>([^<]+)</artifactId>");
  private static final Pattern IQA_DEP = Pattern.compile(
      "<dependency>\\s*<groupId>io\\.iqa</groupId>\\s*<artifactId>([^<]+)</artifactId>");

  @Test
  void eachDockerfileCopiesEveryPomAndTheSourcesTheSidecarBuildNeeds() throws IOException {
    List<String> modules = all(MODULE, Files.readString(ROOT.resolve("pom.xml")));
    Map<String, String> dirByArtifact = new HashMap<>();
    for (String m : modules) {
      dirByArtifact.put(all(OWN_ID, pom(m)).get(0), m);
    }
    Set<String> needed = new LinkedHashSet<>();
    Deque<String> todo = new ArrayDeque<>(List.of("sidecar"));
    while (!todo.isEmpty()) {
      String m = todo.pop();
      if (needed.add(m)) {
        for (String artifact : all(IQA_DEP, pom(m))) {
          if (dirByArtifact.containsKey(artifact)) {
            todo.push(dirByArtifact.get(artifact));
          }
        }
      }
    }
    assertTrue(needed.containsAll(List.of("sidecar", "protocol", "server-kit", "client-lib")), needed.toString());
    List<Path> dockerfiles;
    try (Stream<Path> files = Files.list(ROOT.resolve("docker"))) {
      dockerfiles = files.filter(p -> p.toString().endsWith(".Dockerfile")).sorted().toList();
    }
    assertFalse(dockerfiles.isEmpty());
    for (Path file : dockerfiles) {
      String text = Files.readString(file);
      for (String m : modules) {
        assertTrue(text.contains("COPY " + m + "/pom.xml " + m + "/"), file.getFileName() + " must copy " + m
            + "/pom.xml: the reactor reads every module's pom");
      }
      for (String m : needed) {
        assertTrue(text.contains("COPY " + m + "/src " + m + "/src"), file.getFileName() + " must copy " + m
            + "/src: the sidecar build (-pl sidecar -am) compiles it");
      }
      assertTrue(text.contains("-pl sidecar -am package"), file.getFileName() + " builds the sidecar with -am");
      assertTrue(text.contains("COPY --from=build /src/sidecar/target/lib/ /app/lib/")
          && text.contains("COPY --from=build /src/sidecar/target/iqa-sidecar.jar /app/iqa-sidecar.jar"),
          file.getFileName() + " must put the jar beside its lib/ folder (its manifest's class path)");
    }
  }

  private static String pom(String module) throws IOException {
    return Files.readString(ROOT.resolve(module).resolve("pom.xml"));
  }

  private static List<String> all(Pattern p, String text) {
    List<String> out = new ArrayList<>();
    Matcher m = p.matcher(text);
    while (m.find()) {
      out.add(m.group(1).trim());
    }
    return out;
  }
}
