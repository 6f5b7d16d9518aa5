package io.iqa.cli;

import io.iqa.client.IqaException;
import io.iqa.client.Lease;
import io.iqa.client.LeaseClient;
import io.iqa.client.LeasedProcess;
import io.iqa.protocol.Text;
import io.iqa.protocol.wire.LeaseRequest;
import io.iqa.protocol.wire.Priority;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * {@code iqa gpu run [options] -- CMD ARGS...}: a lease wrapper for any program, as {@code flock} is
 * for files. Acquires a GPU lease, runs CMD with {@code CUDA_VISIBLE_DEVICES} set to the granted
 * GPU and {@code GPU_LEASE_ID} ({@link Lease#cudaEnv()}), renews while it runs, and releases when it exits, returning its
 * exit code. On a revocation CMD gets SIGTERM, then SIGKILL after {@code --grace-s}, and the
 * lease is released only once CMD has exited ({@link LeasedProcess}). With {@code --yield} the
 * lease offers to yield, and a yield request (a waiter of equal or higher priority) stops CMD the
 * same way; the release then says {@code yielded}.
 */
@Command(name = "run", mixinStandardHelpOptions = true, showDefaultValues = true,
    description = {"Run CMD holding a GPU lease: CUDA_VISIBLE_DEVICES is the granted GPU, GPU_LEASE_ID the lease.",
        "On a revocation CMD gets SIGTERM (then SIGKILL after --grace-s); the lease is released once it exited.",
        "With --yield, so does a yield request (another request of equal or higher priority waits for the GPU).",
        "Exit code: CMD's (128+N when signal N ended it); 1 when no lease came within --wait-s; 3 broker unreachable."})
final class GpuRun implements Callable<Integer> {

  @ParentCommand GpuCli gpu;
  @Option(names = "--owner", description = "lease owner (default: CMD's name)") String owner;
  @Option(names = "--purpose", description = "shown in the broker's status (default: 'iqa gpu run CMD', without "
      + "CMD's arguments, which may hold secrets)") String purpose;
  @Option(names = "--gpu", description = "device index (default: any)") Integer gpuIndex;
  @Option(names = "--vram-mb", description = "VRAM to reserve (default: the whole device)") Integer vramMb;
  @Option(names = "--wait-s", defaultValue = "300", description = "wait this long for the GPU") double waitS;
  @Option(names = "--ttl-s", defaultValue = "60",
      description = "lease ttl, renewed every ttl/3 while CMD runs") double ttlS;
  @Option(names = "--priority", defaultValue = "normal", description = "low, normal or high") Priority priority;
  @Option(names = "--grace-s", defaultValue = "10",
      description = "after SIGTERM, SIGKILL CMD when it has not exited within this long") double graceS;
  @Option(names = "--yield", description = "offer the GPU back: when a request of equal or higher priority waits "
      + "for it, stop CMD as on a revocation and release with reason 'yielded'") boolean yieldGpu;
  @Option(names = "--preempt", description = "while waiting, ask holders of a lower priority to yield") boolean preempt;

  @Parameters(arity = "1..*", paramLabel = "CMD", description = "the command and its arguments (after --)")
  List<String> command;

  @Override
  public Integer call() {
    // As a shell does, before any lease is taken: 127 for a command that is not there, 126 for one
    // that cannot be run.
    java.nio.file.Path exe = io.iqa.client.ChildProcess.which(command.get(0), System.getenv("PATH"));
    if (exe == null) {
      gpu.main.err().println("iqa: " + Text.printable(command.get(0)) + ": command not found (no lease was taken)");
      return 127;
    }
    if (!java.nio.file.Files.isExecutable(exe) || java.nio.file.Files.isDirectory(exe)) {
      gpu.main.err().println("iqa: " + Text.printable(command.get(0)) + ": not an executable file (no lease was taken)");
      return 126;
    }
    String who = owner != null ? owner : defaultOwner(command.get(0));
    String name = command.get(0).substring(command.get(0).lastIndexOf('/') + 1);
    LeaseRequest request = LeaseRequest.of(who).withPurpose(purpose != null ? purpose : cut("iqa gpu run " + name))
        .withGpu(gpuIndex).withVramMb(vramMb).withWait(waitS).withTtl(ttlS).withPriority(priority)
        .withYield(yieldGpu).withPreempt(preempt);
    // No self-heal: a second run of the same program must queue, not revoke the first one's lease.
    try (LeaseClient client = new LeaseClient(gpu.main.config().brokerUrl(), gpu.main.config().brokerToken(), 0)) {
      Lease lease;
      try {
        lease = client.acquire(request);
      } catch (IqaException e) {
        gpu.main.err().println("iqa: no GPU lease for " + command.get(0) + ": " + e.getMessage());
        return e.status() == 0 ? IqaMain.UNREACHABLE : IqaMain.PARTLY_FAILED;
      }
      gpu.main.err().println("iqa: lease " + lease.id() + " on gpu " + lease.gpu() + " (owner " + who + ", ttl "
          + ttlS + " s); running " + command.get(0));
      LeasedProcess.Result result;
      try {
        result = new LeasedProcess(command, lease.cudaEnv(), 0, Math.round(graceS * 1000), "KILL", null, null)
            .run(lease, yieldGpu);
      } catch (IqaException e) {
        if (lease.loss() == null) {
          throw e;
        }
        // The grant came back after its time was up: nothing ran, as if no lease had come.
        gpu.main.err().println("iqa: no GPU lease for " + command.get(0) + ": " + Text.printable(e.getMessage()));
        return IqaMain.PARTLY_FAILED;
      }
      String released = Boolean.FALSE.equals(lease.releaseConfirmed())
          ? "releasing the lease failed (the broker hands the GPU on at its expires_at)" : "lease released";
      if (result.loss() != null) {
        gpu.main.err().println("iqa: " + command.get(0) + " stopped, exit code " + result.exitCode() + ": "
            + result.loss().message() + "; " + released);
      } else if (result.yielded()) {
        gpu.main.err().println("iqa: " + command.get(0) + " stopped to yield gpu " + lease.gpu() + ", exit code "
            + result.exitCode() + ": " + Text.printable(lease.yieldRequested()) + "; " + released);
      } else if (Boolean.FALSE.equals(lease.releaseConfirmed())) {
        gpu.main.err().println("iqa: " + command.get(0) + " exited " + result.exitCode() + "; " + released);
      }
      return result.exitCode();
    }
  }

  /** The command's file name, cut to what an owner may be ({@code [A-Za-z0-9._-]{1,64}}). */
  static String defaultOwner(String cmd) {
    String name = cmd.substring(cmd.lastIndexOf('/') + 1).replaceAll("[^A-Za-z0-9._-]", "_");
    return name.isEmpty() ? "gpu-run" : name.length() > 64 ? name.substring(0, 64) : name;
  }

  private static String cut(String s) {
    return s.length() > 256 ? s.substring(0, 253) + "..." : s;
  }
}
