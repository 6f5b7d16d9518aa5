package io.iqa.testkit;

import java.util.ArrayDeque;
import java.util.Deque;

/**
 * What a test started and must stop however it ends, in a field JUnit closes after each test
 * ({@code @AutoClose final Cleanup cleanup = new Cleanup();}): closed in the reverse order of their
 * start, each one even when closing another failed.
 */
public final class Cleanup implements AutoCloseable {

  private final Deque<AutoCloseable> steps = new ArrayDeque<>();

  /** @return {@code resource}, closed at the end */
  public <T extends AutoCloseable> T add(T resource) {
    steps.push(resource);
    return resource;
  }

  /** @return {@code process}, killed at the end (SIGKILL) if it still runs */
  public Process kill(Process process) {
    steps.push(process::destroyForcibly);
    return process;
  }

  @Override
  public void close() throws Exception {
    Exception first = null;
    while (!steps.isEmpty()) {
      try {
        steps.pop().close();
      } catch (Exception e) {
        if (first == null) {
          first = e;
        } else {
          first.addSuppressed(e);
        }
      }
    }
    if (first != null) {
      throw first;
    }
  }
}
