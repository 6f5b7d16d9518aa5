package io.iqa.broker;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Runs detection through a real process: a stand-in nvidia-smi script. */
class GpuDetectorTest {

  @Test
  void readsDevicesFromNvidiaSmi(@TempDir Path dir) throws Exception {
    Path smi = script(dir, """
        #!/bin/sh
        [ "$1" = "--query-gpu=index,memory.total" ] || { echo "unexpected args: $*" >&2; exit 9; }
        echo "0, 81559"
        echo "1, 24576"
        """);
    assertEquals(List.of(new GpuDevice(0, 81559), new GpuDevice(1, 24576)), GpuDetector.detect(smi.toString()));
  }

  @Test
  void fallsBackToOneWholeDeviceWhenNvidiaSmiFailsOrIsMissing(@TempDir Path dir) throws Exception {
    Path failing = script(dir, "#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 6\n");
    assertEquals(GpuDetector.FALLBACK, GpuDetector.detect(failing.toString()));
    assertEquals(GpuDetector.FALLBACK, GpuDetector.detect(dir.resolve("no-such-nvidia-smi").toString()));
    assertEquals(List.of(new GpuDevice(0, 0)), GpuDetector.FALLBACK);
  }

  private static Path script(Path dir, String body) throws Exception {
    Path p = dir.resolve("nvidia-smi");
    Files.writeString(p, body);
    Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
    return p;
  }
}
