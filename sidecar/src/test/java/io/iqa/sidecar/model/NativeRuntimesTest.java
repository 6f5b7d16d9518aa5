package io.iqa.sidecar.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * What the worker loads beside its start, and JavaCPP told not to probe for GPU builds this
 * classpath does not have (about 250 ms of CUDA library lookups on every worker start).
 */
class NativeRuntimesTest {

  @Test
  void withoutGpuNativesJavaCppTriesOnlyThePlainBuildAndAValueSetByHandIsKept() {
    String before = System.getProperty(NativeRuntimes.JAVACPP_EXTENSION);
    try {
      org.junit.jupiter.api.Assumptions.assumeFalse(NativeRuntimes.tensorflowGpuNatives(), "the -Pgpu build keeps JavaCPP's -gpu");
      System.clearProperty(NativeRuntimes.JAVACPP_EXTENSION);
      NativeRuntimes.skipAbsentGpuBuilds();
      assertEquals("", System.getProperty(NativeRuntimes.JAVACPP_EXTENSION));

      System.setProperty(NativeRuntimes.JAVACPP_EXTENSION, "-gpu");
      NativeRuntimes.skipAbsentGpuBuilds();
      assertEquals("-gpu", System.getProperty(NativeRuntimes.JAVACPP_EXTENSION), "-D set by hand wins");
    } finally {
      if (before == null) {
        System.clearProperty(NativeRuntimes.JAVACPP_EXTENSION);
      } else {
        System.setProperty(NativeRuntimes.JAVACPP_EXTENSION, before);
      }
    }
  }

  @Test
  void theConfigNamesWhatLoads() {
    assertEquals(List.of(NativeRuntimes.OPENCV), NativeRuntimes.needed(List.of()), "the decoder needs OpenCV");
  }
}
