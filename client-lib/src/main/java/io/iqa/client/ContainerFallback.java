package io.iqa.client;

import com.fasterxml.jackson.databind.JsonNode;
import io.iqa.protocol.wire.LeaseRequest;
import io.iqa.protocol.config.ConfigException;
import io.iqa.protocol.config.Matches;
import io.iqa.protocol.config.Range;
import io.iqa.protocol.wire.WireEnum;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Scores images with a one-shot container run of the sidecar's {@code score} command when the
 * sidecar is unreachable. Like every GPU user it holds a lease: before each run it asks the broker
 * for one (waiting up to {@link Settings#leaseWaitS()}), passes the granted GPU to the container
 * ({@code --gpus device=N}, never {@code all}) and holds the lease, with this process's pid, until
 * the container has exited: a run that times out or is revoked stops the container itself ({@code
 * docker kill} by the id in the run's {@code --cidfile}), and the lease is released only once {@code
 * docker inspect} no longer shows it running; every failure path releases the lease. Without a lease
 * it runs the CPU image with no GPU arguments (said in a WARN), or fails, as configured.
 *
 * <p>The command is an argument list (never a shell line) with placeholders: {@code {dir}} (the
 * images' folder), {@code {cidfile}} (where the engine writes the container's id; required),
 * {@code {image}} (the GPU image with a lease, the CPU image without),
 * {@code {file}} (an image's name; the argument holding it is repeated once per image, so one run
 * scores a folder and pays start-up once), and an argument exactly {@code {gpu_args}}, replaced by
 * {@link Settings#gpuArgs()} (where {@code {gpu}} is the leased device and {@code {lease_id}} the
 * lease; the default passes it in as {@code GPU_LEASE_ID}, by which the broker's observer knows the
 * container's processes as the lease's) with a lease, by nothing without one.
 */
public final class ContainerFallback {

  private static final Logger LOG = LoggerFactory.getLogger(ContainerFallback.class);

  public static final List<String> DEFAULT_COMMAND = List.of("docker", "run", "--rm", "--cidfile", "{cidfile}",
      "{gpu_args}", "-v", "{dir}:/in:ro", "{image}", "score", "/in/{file}");
  public static final List<String> DEFAULT_GPU_ARGS = List.of("--gpus", "device={gpu}", "-e",
      "GPU_LEASE_ID={lease_id}");
  public static final String DEFAULT_IMAGE = "iqa-sidecar:gpu";
  public static final String DEFAULT_CPU_IMAGE = "iqa-sidecar:latest";
  /** The error code of a file whose name cannot be passed to the container. */
  public static final String BAD_FILE_NAME = "bad_file_name";

  /** What the fallback does when no GPU lease comes within {@code lease_wait_s}. */
  public enum OnNoLease implements WireEnum {
    /** Run the CPU image: slower, never on the GPU. */
    CPU,
    /** Fail the images, for a caller that must not run without the GPU. */
    FAIL
  }

  /**
   * The fallback's settings.
   *
   * @param image the image run with a GPU lease
   * @param cpuImage the image run without one
   * @param leaseWaitS how long to wait for a GPU lease before each run
   * @param leaseTtlS the lease's ttl (renewed while the container runs)
   * @param gpu the device to ask for, or null for any
   * @param onNoLease run the CPU image, or fail
   * @param owner the lease's owner
   * @param searchPath where to look for the executable when it has no '/' (default: PATH)
   * @param stopGraceS a run being stopped (timeout, revocation) gets SIGTERM, and SIGKILL this long after
   */
  public record Settings(boolean enabled, List<String> command, List<String> gpuArgs, String image,
      String cpuImage, @Range(min = 1, max = 86_400) long timeoutS, @Range(min = 0, max = 86_400) double leaseWaitS,
      @Range(min = 1, max = 86_400) double leaseTtlS, @Range(min = 0, max = 1024) Integer gpu, OnNoLease onNoLease,
      @Matches(value = LeaseRequest.OWNER_PATTERN, what = LeaseRequest.OWNER_RULE) String owner, String searchPath,
      @Range(min = 0.1, max = 3600) double stopGraceS) {

    public static final double DEFAULT_STOP_GRACE_S = 10;

    public static Settings defaults() {
      return new Settings(true, DEFAULT_COMMAND, DEFAULT_GPU_ARGS, DEFAULT_IMAGE, DEFAULT_CPU_IMAGE, 600, 30, 60, null,
          OnNoLease.CPU, "iqa-client", null, DEFAULT_STOP_GRACE_S);
    }

    /** @throws ConfigException naming the key (the config reader puts {@code fallback.} in front) */
    public Settings {
      if (command.stream().noneMatch(a -> a.contains("{file}"))) {
        throw new ConfigException("command needs a {file} argument: " + command);
      }
      if (command.stream().noneMatch(a -> a.contains("{cidfile}"))) {
        throw new ConfigException("command needs a {cidfile} argument (\"--cidfile\", \"{cidfile}\" after \"run\"): "
            + "the container belongs to the container engine, not to this process, so it is stopped and awaited by "
            + "its id before the GPU lease is released: " + command);
      }
      if (command.stream().anyMatch(a -> a.equals("--gpus") || a.startsWith("--gpus=") || a.startsWith("--gpu="))) {
        throw new ConfigException("command must not name GPUs itself (" + command + "): put {gpu_args} where "
            + "gpu_args go, so the container gets only the leased GPU");
      }
      onNoLease = onNoLease == null ? OnNoLease.CPU : onNoLease;
      command = List.copyOf(command);
      gpuArgs = List.copyOf(gpuArgs);
    }
  }

  private final Settings settings;
  private final LeaseClient leases;
  private final String searchPath;

  /** @param leases the broker's client for the run's lease, or null when there is no broker (CPU runs) */
  public ContainerFallback(Settings settings, LeaseClient leases) {
    this.settings = settings;
    this.leases = leases;
    this.searchPath = settings.searchPath() != null ? settings.searchPath()
        : System.getenv().getOrDefault("PATH", "/usr/bin:/bin");
  }

  /**
   * Scores every file (grouped by folder, one run per folder).
   * @return path -> the score command's JSON line for it
   * @throws IqaException when the executable is missing, times out, or fails without answering, or
   *     when no lease came and {@code on_no_lease} is {@code fail}
   */
  public Map<Path, JsonNode> score(List<Path> files) {
    Map<Path, List<Path>> byDir = new LinkedHashMap<>();
    Map<Path, Path> given = new LinkedHashMap<>();
    for (Path f : files) {
      Path abs = f.toAbsolutePath().normalize();
      given.put(abs, f);
      byDir.computeIfAbsent(abs.getParent(), d -> new ArrayList<>()).add(abs);
    }
    Map<Path, JsonNode> byAbs = new LinkedHashMap<>();
    byDir.forEach((dir, group) -> byAbs.putAll(run(dir, group)));
    Map<Path, JsonNode> out = new LinkedHashMap<>();
    byAbs.forEach((abs, j) -> out.put(given.get(abs), j));
    return out;
  }

  private Map<Path, JsonNode> run(Path dir, List<Path> all) {
    // A name that does not survive the trip through text (not valid in this system's encoding)
    // cannot be named to the container: that file's own error, the others go on.
    Map<Path, JsonNode> out = new LinkedHashMap<>();
    List<Path> group = new ArrayList<>();
    for (Path f : all) {
      if (dir.resolve(f.getFileName().toString()).equals(f)) {
        group.add(f);
      } else {
        out.put(f, Http.object().put("path", f.toString()).put("error", BAD_FILE_NAME).put("message",
            "the file name is not valid in this system's encoding, so it cannot be passed to the container: rename it"));
      }
    }
    if (group.isEmpty()) {
      return out;
    }
    out.putAll(runGroup(dir, group));
    return out;
  }

  private Map<Path, JsonNode> runGroup(Path dir, List<Path> group) {
    String exe = resolve(settings.command().get(0));
    Lease lease = lease();
    Path work = null;
    boolean ran = false;
    try {
      work = Files.createTempDirectory("iqa-fallback");
      // Not created here: docker refuses a cidfile that exists.
      Path cidfile = work.resolve("cid");
      Path stdout = Files.createFile(work.resolve("out"));
      Path stderr = Files.createFile(work.resolve("err"));
      List<String> args = args(dir, group, lease, cidfile);
      args.set(0, exe);
      LeasedProcess run = new LeasedProcess(args, Map.of(), settings.timeoutS() * 1000,
          Math.round(settings.stopGraceS() * 1000), "TERM", stdout, stderr,
          (main, runId, name) -> new ContainerFamily(main, runId, name, exe, cidfile));
      ran = true; // from here on the run releases the lease itself, once the container is gone
      LeasedProcess.Result result = run.run(lease);
      if (result.timedOut()) {
        throw new IqaException("fallback run timed out after " + settings.timeoutS() + " s and was stopped: " + args);
      }
      if (result.loss() != null) {
        throw new IqaException("fallback run stopped: its GPU lease was lost (" + result.loss().message() + ")");
      }
      return answers(group, Files.readString(stdout, StandardCharsets.UTF_8), result.exitCode(), args, stderr);
    } catch (IOException e) {
      throw new IqaException("fallback run failed: " + e.getMessage(), e);
    } finally {
      if (!ran && lease != null) {
        lease.close(); // every failure before the run: nobody uses the GPU
      }
      TempDirs.delete(work);
    }
  }

  /** A lease for this run, or null to run on CPU; throws when none came and the config says fail. */
  private Lease lease() {
    String why;
    if (leases == null) {
      why = "no broker is configured";
    } else {
      try {
        Lease granted = leases.acquire(LeaseRequest.of(settings.owner()).withPurpose("iqa container fallback")
            .withTtl(settings.leaseTtlS()).withWait(settings.leaseWaitS()).withGpu(settings.gpu()));
        if (granted.valid()) {
          return granted;
        }
        // Granted, but its answer came back after the lease's time was up: no use of it is safe.
        LeaseLoss loss = granted.loss();
        granted.close();
        why = "lease " + granted.id() + " came back too late to use"
            + (loss != null ? " (" + loss.message() + ")" : "");
      } catch (IqaException e) {
        why = e.getMessage();
      }
    }
    if (settings.onNoLease() == OnNoLease.FAIL) {
      throw new IqaException("no GPU lease for the container fallback (" + why + ") and fallback.on_no_lease is 'fail'");
    }
    LOG.warn("no GPU lease for the container fallback ({}); running it on CPU: image {}, no GPU arguments", why,
        settings.cpuImage());
    return null;
  }

  private List<String> args(Path dir, List<Path> group, Lease lease, Path cidfile) {
    List<String> args = new ArrayList<>();
    for (String a : settings.command()) {
      a = a.replace("{cidfile}", cidfile.toString());
      if (a.equals("{gpu_args}")) {
        if (lease != null) {
          settings.gpuArgs().forEach(g -> args.add(g.replace("{gpu}", Integer.toString(lease.gpu()))
              .replace("{lease_id}", Long.toString(lease.id()))));
        }
      } else if (a.contains("{file}")) {
        for (Path f : group) {
          args.add(fill(a, dir, lease).replace("{file}", f.getFileName().toString()));
        }
      } else {
        args.add(fill(a, dir, lease));
      }
    }
    return args;
  }

  private Map<Path, JsonNode> answers(List<Path> group, String stdout, int exit, List<String> args, Path stderr)
      throws IOException {
    Map<String, JsonNode> byName = new LinkedHashMap<>();
    for (String line : stdout.split("\n")) {
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
        throw new IqaException("fallback run " + args + " exited " + exit + " without an answer for " + f + ": "
            + tail(stderr));
      }
      out.put(f, j);
    }
    return out;
  }

  private String fill(String arg, Path dir, Lease lease) {
    return arg.replace("{dir}", dir.toString())
        .replace("{image}", lease != null ? settings.image() : settings.cpuImage());
  }

  private String resolve(String exe) {
    if (exe.contains("/")) {
      return exe;
    }
    Path found = ChildProcess.which(exe, searchPath);
    if (found != null) {
      return found.toString();
    }
    throw new IqaException("fallback executable '" + exe + "' not found on PATH (" + searchPath + "); install it or "
        + "set fallback.command");
  }

  private static String tail(Path file) throws IOException {
    String s = Files.readString(file);
    return s.length() > 800 ? "..." + s.substring(s.length() - 800) : s.isBlank() ? "(no stderr)" : s;
  }

}
