package io.iqa.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.iqa.broker.BrokerOptions;
import io.iqa.sidecar.model.ModelRegistry;
import io.iqa.sidecar.service.SidecarOptions;
import io.vertx.core.json.JsonObject;
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
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Docker, Compose and kubectl do not run here, so the deployment files are kept correct by reading
 * them after {@code mvn package}: every path a Dockerfile copies exists (sources, and the jars the
 * build stage makes), each copies every module's pom and the sources of the modules its module
 * needs; the compose files and manifests parse and name only images built here (or the public
 * Redis image) and files that exist; the container configs pass the servers' own option parsers;
 * {@code systemd-analyze verify} accepts the units.
 */
class DeploymentFilesIT {

  private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
  private static final Pattern MODULE = Pattern.compile("<module>([^<]+)</module>");
  private static final Pattern OWN_ID = Pattern.compile("</parent>\\s*<artifactId>([^<]+)</artifactId>");
  private static final Pattern IQA_DEP = Pattern.compile(
      "<dependency>\\s*<groupId>io\\.iqa</groupId>\\s*<artifactId>([^<]+)</artifactId>");
  private static final Pattern BUILT = Pattern.compile("-pl (\\S+) -am\\b");
  private static final Pattern TAG = Pattern.compile("docker build -f (\\S+) -t (\\S+) \\.");
  private static final Pattern COPY = Pattern.compile("(?m)^COPY (--from=build )?(\\S+) (\\S+)$");
  private static final Set<String> PUBLIC_IMAGES = Set.of("redis:7-bookworm");
  private static final ObjectMapper YAML = new YAMLMapper();

  @Test
  void everyDockerfileCopiesWhatExistsAndWhatItsModuleNeeds() throws IOException {
    List<String> modules = all(MODULE, Files.readString(ROOT.resolve("pom.xml")));
    Map<String, String> dirByArtifact = new HashMap<>();
    for (String m : modules) {
      dirByArtifact.put(all(OWN_ID, pom(m)).get(0), m);
    }
    List<Path> dockerfiles = dockerfiles();
    assertEquals(Set.of("lease-broker", "sidecar"), Set.copyOf(dockerfiles.stream().map(f -> built(f)).toList()));
    for (Path file : dockerfiles) {
      String text = Files.readString(file);
      String name = file.getFileName().toString();
      for (String m : modules) {
        assertTrue(hasLine(text, "COPY " + m + "/pom.xml " + m + "/"), name + " must copy " + m
            + "/pom.xml: the reactor reads every module's pom");
      }
      for (String m : closure(built(file), dirByArtifact)) {
        assertTrue(hasLine(text, "COPY " + m + "/src " + m + "/src"), name + " must copy " + m + "/src: the build "
            + "(-pl " + built(file) + " -am) compiles it");
      }
      Matcher copy = COPY.matcher(text);
      int fromBuild = 0;
      while (copy.find()) {
        Path source = copy.group(1) != null ? ROOT.resolve(copy.group(2).replaceFirst("^/src/", ""))
            : ROOT.resolve(copy.group(2));
        fromBuild += copy.group(1) != null ? 1 : 0;
        assertTrue(Files.exists(source), name + " copies " + copy.group(2) + ", which " + (copy.group(1) != null
            ? "the build stage does not make (after mvn package: " : "does not exist (") + source + ")");
      }
      assertTrue(fromBuild > 0, name + " takes the jar from its build stage");
      assertTrue(hasLine(text, "USER iqa"), name + " runs as a non-root user");
    }
  }

  @Test
  void composeFilesNameOnlyImagesAndFilesThatExist() throws IOException {
    Set<String> ours = builtImages();
    JsonNode base = YAML.readTree(ROOT.resolve("docker-compose.yml").toFile());
    JsonNode services = base.path("services");
    assertEquals(Set.of("redis", "lease-broker", "sidecar"), fieldNames(services));
    services.fields().forEachRemaining(e -> {
      JsonNode s = e.getValue();
      String image = s.path("image").asText();
      assertTrue(ours.contains(image) || PUBLIC_IMAGES.contains(image), e.getKey() + ": unknown image " + image);
      if (s.has("build")) {
        Path dockerfile = ROOT.resolve(s.path("build").path("dockerfile").asText());
        assertTrue(Files.isRegularFile(dockerfile), e.getKey() + ": " + dockerfile);
        assertEquals(image, tagOf(dockerfile), e.getKey() + " names the image its Dockerfile builds");
      }
      assertTrue(s.path("healthcheck").path("test").size() > 0, e.getKey() + " has a health check");
      for (JsonNode port : s.path("ports")) {
        assertTrue(port.asText().startsWith("127.0.0.1:"), e.getKey() + " publishes beyond loopback: " + port);
      }
      for (JsonNode volume : s.path("volumes")) {
        String host = volume.asText().split(":")[0];
        if (host.startsWith(".")) {
          assertTrue(Files.isDirectory(ROOT.resolve(host)), e.getKey() + " mounts " + host + ", which is missing");
          assertTrue(volume.asText().endsWith(":ro"), e.getKey() + " mounts " + host + " read-only");
        } else {
          assertTrue(base.path("volumes").has(host), e.getKey() + ": undeclared volume " + host);
        }
      }
    });
    assertEquals("http://lease-broker:8470", services.path("sidecar").path("environment")
        .path("IQA_SIDECAR_BROKER_URL").asText(), "the sidecar reaches the broker by its service name");
    assertEquals("service_healthy", services.path("sidecar").path("depends_on").path("lease-broker")
        .path("condition").asText());
    assertTrue(services.path("lease-broker").path("environment").path("GPU_LEASE_REDIS_URL").asText()
        .startsWith("redis://redis:"), "the broker keeps its leases in the compose file's Redis");

    JsonNode gpu = YAML.readTree(ROOT.resolve("docker-compose.gpu.yml").toFile()).path("services");
    assertEquals(Set.of("sidecar"), fieldNames(gpu));
    String gpuImage = gpu.path("sidecar").path("image").asText();
    assertTrue(ours.contains(gpuImage), gpuImage);
    assertEquals(gpuImage, tagOf(ROOT.resolve(gpu.path("sidecar").path("build").path("dockerfile").asText())));
    JsonNode device = gpu.path("sidecar").path("deploy").path("resources").path("reservations").path("devices").get(0);
    assertEquals("nvidia", device.path("driver").asText());
    assertEquals("gpu", device.path("capabilities").get(0).asText());
  }

  @Test
  void kubernetesManifestsParseAndProbeHealth() throws IOException {
    Set<String> ours = builtImages();
    List<JsonNode> docs = new ArrayList<>();
    try (Stream<Path> files = Files.list(ROOT.resolve("deploy/k8s"))) {
      for (Path f : files.filter(p -> p.toString().endsWith(".yaml")).sorted().toList()) {
        YAML.readerFor(JsonNode.class).readValues(f.toFile())
            .forEachRemaining(d -> docs.add((JsonNode) d));
      }
    }
    Map<String, Integer> kinds = new HashMap<>();
    boolean gpuAsked = false;
    for (JsonNode d : docs) {
      String kind = d.path("kind").asText();
      kinds.merge(kind, 1, Integer::sum);
      assertFalse(d.path("metadata").path("name").asText().isEmpty(), "every object has a name: " + d);
      if (kind.equals("ConfigMap")) {
        d.path("data").fields().forEachRemaining(e -> checkServerConfig(e.getKey(), new JsonObject(e.getValue()
            .asText())));
      }
      JsonNode pod = d.path("spec").path("template").path("spec");
      if (pod.isMissingNode()) {
        continue;
      }
      assertTrue(pod.path("securityContext").path("runAsNonRoot").asBoolean(), d.path("metadata") + " non-root");
      for (JsonNode c : pod.path("containers")) {
        String image = c.path("image").asText();
        assertTrue(ours.contains(image) || PUBLIC_IMAGES.contains(image), "unknown image " + image);
        if (ours.contains(image)) {
          // Liveness: the process serves. Readiness: the sidecar's start is done (/health/ready, 503 while
          // its models load); the broker is ready as soon as it answers.
          assertEquals("/health", c.path("livenessProbe").path("httpGet").path("path").asText(), image + " liveness");
          assertEquals(image.startsWith("iqa-sidecar") ? "/health/ready" : "/health",
              c.path("readinessProbe").path("httpGet").path("path").asText(), image + " readiness");
        }
        gpuAsked |= c.path("resources").path("limits").path("nvidia.com/gpu").asInt() == 1;
      }
    }
    assertTrue(gpuAsked, "the sidecar asks the device plugin for a GPU");
    assertEquals(Map.of("ConfigMap", 2, "Deployment", 2, "Service", 3, "StatefulSet", 1), kinds);
  }

  @Test
  void theContainerConfigsAreValidForTheServers() throws IOException {
    for (Path f : List.of(ROOT.resolve("docker/conf/broker.json"), ROOT.resolve("docker/conf/sidecar.json"))) {
      checkServerConfig(f.getFileName().toString(), new JsonObject(Files.readString(f)));
    }
  }

  @Test
  void systemdAcceptsTheUnits() throws Exception {
    List<String> cmd = new ArrayList<>(List.of("systemd-analyze", "verify"));
    try (Stream<Path> units = Files.list(ROOT.resolve("deploy/systemd"))) {
      units.filter(p -> p.toString().endsWith(".service")).sorted().forEach(p -> cmd.add(p.toString()));
    }
    assertEquals(4, cmd.size(), cmd.toString());
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    assertTrue(p.waitFor(60, TimeUnit.SECONDS));
    assertEquals(0, p.exitValue(), out);
    assertEquals("", out.strip(), "systemd-analyze verify has remarks");
  }

  /** broker.json through BrokerOptions, sidecar.json through SidecarOptions and the model check. */
  private static void checkServerConfig(String name, JsonObject config) {
    if (name.startsWith("broker")) {
      BrokerOptions.read(config);
    } else {
      assertEquals("sidecar.json", name);
      SidecarOptions.read(config);
      ModelRegistry.check(config, ROOT);
      assertEquals("http://lease-broker:8470", config.getJsonObject("broker").getString("url"));
    }
    assertEquals("0.0.0.0", config.getString("host"), name + ": in a container the server listens beyond loopback");
  }

  /** @return whether {@code line} is a whole line of {@code text} (not in a comment, not part of a longer one) */
  private static boolean hasLine(String text, String line) {
    return text.lines().anyMatch(l -> l.strip().equals(line));
  }

  private static Set<String> builtImages() throws IOException {
    Set<String> images = new LinkedHashSet<>();
    for (Path f : dockerfiles()) {
      images.add(tagOf(f));
    }
    assertEquals(Set.of("iqa-lease-broker:latest", "iqa-sidecar:latest", "iqa-sidecar:gpu"), images);
    return images;
  }

  /** @return the image a Dockerfile's first line says it builds ({@code docker build -f F -t IMAGE .}) */
  private static String tagOf(Path dockerfile) {
    try {
      Matcher m = TAG.matcher(Files.readString(dockerfile));
      assertTrue(m.find(), dockerfile + " says how to build it");
      assertEquals("docker/" + dockerfile.getFileName(), m.group(1));
      return m.group(2);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  private static String built(Path dockerfile) {
    try {
      List<String> modules = all(BUILT, Files.readString(dockerfile));
      assertEquals(1, Set.copyOf(modules).size(), dockerfile + " builds one module");
      return modules.get(0);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  private static Set<String> closure(String module, Map<String, String> dirByArtifact) throws IOException {
    Set<String> needed = new LinkedHashSet<>();
    Deque<String> todo = new ArrayDeque<>(List.of(module));
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
    return needed;
  }

  private static List<Path> dockerfiles() throws IOException {
    try (Stream<Path> files = Files.list(ROOT.resolve("docker"))) {
      return files.filter(p -> p.toString().endsWith(".Dockerfile")).sorted().toList();
    }
  }

  private static Set<String> fieldNames(JsonNode node) {
    Set<String> names = new LinkedHashSet<>();
    node.fieldNames().forEachRemaining(names::add);
    return names;
  }

  private static String pom(String module) throws IOException {
    return Files.readString(ROOT.resolve(module).resolve("pom.xml"));
  }

  private static List<String> all(Pattern p, String text) {
    List<String> out = new ArrayList<>();
    Matcher m = p.matcher(text);
    while (m.find()) {
      out.add(m.group(1));
    }
    return out;
  }
}
