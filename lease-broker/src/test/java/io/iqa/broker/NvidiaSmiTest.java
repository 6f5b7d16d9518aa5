package io.iqa.broker;

import io.iqa.broker.gpu.GpuDevice;
import io.iqa.broker.gpu.NvidiaSmi;
import io.iqa.testkit.BrokerProcess;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Runs nvidia-smi queries through a real process: a stand-in nvidia-smi script. */
class NvidiaSmiTest {

  @Test
  void readsDevicesFromNvidiaSmi(@TempDir Path dir) throws Exception {
    Path smi = answering(dir, "--query-gpu=index,memory.total", "0, 81559\n1, 24576\n");
    assertEquals(List.of(new GpuDevice(0, 81559), new GpuDevice(1, 24576)), new NvidiaSmi(smi.toString()).detect());
  }

  @Test
  void fallsBackToOneWholeDeviceWhenNvidiaSmiFailsOrIsMissing(@TempDir Path dir) throws Exception {
    Path failing = script(dir, "#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 6\n");
    assertEquals(NvidiaSmi.FALLBACK, new NvidiaSmi(failing.toString()).detect());
    assertEquals(NvidiaSmi.FALLBACK, new NvidiaSmi(dir.resolve("no-such-nvidia-smi").toString()).detect());
    assertEquals(List.of(new GpuDevice(0, 0)), NvidiaSmi.FALLBACK);
  }

  @Test
  void listsComputeAppsByDeviceIndexAndReadsNoProcessesAndUnknownMemory(@TempDir Path dir) throws Exception {
    Path smi = script(dir, """
        #!/bin/sh
        case "$1" in
          --query-gpu=index,uuid) printf '0, GPU-aaaa\\n1, GPU-bbbb\\n' ;;
          --query-compute-apps=gpu_uuid,pid,used_memory) cat "$(dirname "$0")/apps" ;;
          *) exit 9 ;;
        esac
        """);
    Files.writeString(dir.resolve("apps"), "GPU-bbbb, 4242, 1500\nGPU-aaaa, 77, [N/A]\nGPU-zzzz, 5, 10\n");
    assertEquals(List.of(new NvidiaSmi.ComputeApp(1, 4242, 1500), new NvidiaSmi.ComputeApp(0, 77, null)),
        new NvidiaSmi(smi.toString()).computeApps(), "a process on an unknown device is skipped");
    Files.writeString(dir.resolve("apps"), "No running processes found\n");
    assertEquals(List.of(), new NvidiaSmi(smi.toString()).computeApps());
    Files.writeString(dir.resolve("apps"), "");
    assertEquals(List.of(), new NvidiaSmi(smi.toString()).computeApps());
    NvidiaSmi.Unavailable missing = assertThrows(NvidiaSmi.Unavailable.class,
        () -> new NvidiaSmi(dir.resolve("none").toString()).computeApps());
    assertTrue(missing.missing());
  }

  @Test
  void readsMemoryInUseByDevice(@TempDir Path dir) throws Exception {
    Path smi = answering(dir, "--query-gpu=index,memory.used", "0, 1\n1, 40211\n");
    assertEquals(java.util.Map.of(0, 1, 1, 40211), new NvidiaSmi(smi.toString()).memoryUsedMb());
  }

  /**
   * Round 2 (read in the code): nvidia-smi's output was read to its end before the 10 s timeout
   * began, so a wedged driver blocked the broker's start for ever. A stand-in that never exits, with
   * a child that holds its output open, costs the start one timeout; the broker then serves.
   */
  @Test
  void aWedgedNvidiaSmiDoesNotBlockTheBrokersStart(@TempDir Path dir) throws Exception {
    Path bin = Files.createDirectories(dir.resolve("bin"));
    Path smi = bin.resolve("nvidia-smi");
    Files.writeString(smi, "#!/bin/sh\necho '0, 81559'\nsleep 600 &\nexec sleep 600\n");
    Files.setPosixFilePermissions(smi, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
    long t0 = System.nanoTime();
    try (BrokerProcess b = new BrokerProcess(new io.vertx.core.json.JsonObject().put("observe_interval_ms", 500),
        dir, java.util.Map.of("PATH", bin + ":" + System.getenv("PATH")))) {
      long startedS = (System.nanoTime() - t0) / 1_000_000_000L;
      assertTrue(startedS < 30, "the broker took " + startedS + " s to start");
      assertTrue(b.logShows("did not answer within 10 s"), b.log());
      var lease = b.post("/v1/gpu/lease", new io.vertx.core.json.JsonObject().put("owner", "x"));
      assertEquals(200, lease.statusCode(), lease.body());
      assertEquals(0, new io.vertx.core.json.JsonObject(lease.body()).getInteger("gpu"), "one whole device 0");
    }
  }

  /** A stand-in nvidia-smi that prints {@code output} when its first argument is {@code query}, else fails. */
  private static Path answering(Path dir, String query, String output) throws Exception {
    Files.writeString(dir.resolve("output"), output);
    return script(dir, "#!/bin/sh\n[ \"$1\" = \"" + query + "\" ] || { echo \"unexpected args: $*\" >&2; exit 9; }\n"
        + "cat \"$(dirname \"$0\")/output\"\n");
  }

  private static Path script(Path dir, String body) throws Exception {
    Path p = dir.resolve("nvidia-smi");
    Files.writeString(p, body);
    Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
    return p;
  }
}
