package io.iqa.sidecar.service;

/**
 * A system class loader ({@code -Djava.system.class.loader}) that holds a JVM for {@code
 * iqa.test.start_delay_ms} before its main class loads: a worker JVM that starts slowly, as one
 * does on a loaded machine, without depending on how loaded the machine is.
 */
public final class SlowStartClassLoader extends ClassLoader {

  public SlowStartClassLoader(ClassLoader parent) {
    super(parent);
    try {
      Thread.sleep(Long.getLong("iqa.test.start_delay_ms", 0));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
