package io.iqa.client;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The run's family with its container: the container belongs to the container engine, not to this
 * process, so it is known by the id docker wrote to the cidfile, stopped with {@code docker kill}
 * and counted as running while {@code docker inspect} says so. The lease is released only once the
 * docker client and the container are both gone.
 */
final class ContainerFamily extends ProcessFamily {

  private static final Logger LOG = LoggerFactory.getLogger(ContainerFallback.class);

  private final String docker;
  private final Path cidfile;

  ContainerFamily(Process main, String runId, String name, String docker, Path cidfile) {
    super(main, runId, name);
    this.docker = docker;
    this.cidfile = cidfile;
  }

  @Override
  public List<Long> running() {
    List<Long> pids = super.running();
    if (containerRunning()) {
      pids.add(-1L); // the container: no pid of ours
    }
    return pids;
  }

  @Override
  public void signal(String sig) {
    String id = containerId();
    if (id != null) {
      engine("kill", "--signal", sig, id);
    }
    super.signal(sig);
  }

  @Override
  public String describe(List<Long> pids) {
    List<Long> own = pids.stream().filter(p -> p > 0).toList();
    String container = pids.contains(-1L) ? "container " + containerId() : null;
    return own.isEmpty() ? String.valueOf(container)
        : container == null ? super.describe(own) : super.describe(own) + ", " + container;
  }

  private boolean containerRunning() {
    String id = containerId();
    if (id == null) {
      return false; // never created (the client failed first), or still being created by a client that runs
    }
    String state = engine("inspect", "--format", "{{.State.Running}}", id);
    return state != null && state.trim().equals("true");
  }

  private String containerId() {
    try {
      String id = Files.exists(cidfile) ? Files.readString(cidfile).trim() : "";
      return id.isEmpty() ? null : id;
    } catch (IOException e) {
      return null;
    }
  }

  /** @return the engine's output, or null when it failed (an unknown container: gone) */
  private String engine(String... args) {
    List<String> cmd = new ArrayList<>(List.of(docker));
    cmd.addAll(List.of(args));
    try {
      Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)) {
        p.destroyForcibly();
        LOG.warn("{} {} did not answer within 30 s", docker, String.join(" ", args));
        return "true"; // cannot tell: take the container for running, keep the lease
      }
      return p.exitValue() == 0 ? out : null;
    } catch (IOException e) {
      LOG.warn("cannot run {} {}: {}", docker, args[0], e.getMessage());
      return null;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "true";
    }
  }
}
