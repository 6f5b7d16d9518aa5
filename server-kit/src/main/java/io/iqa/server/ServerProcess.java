package io.iqa.server;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How both servers live as a process once they listen: a shutdown hook (SIGTERM, Ctrl-C) that
 * stops them cleanly, the {@code NAME listening on URL} line that scripts and tests wait for,
 * then the main thread waits until the process ends.
 */
public final class ServerProcess {

  private static final Logger LOG = LoggerFactory.getLogger(ServerProcess.class);

  /** What the shutdown hook runs. */
  public interface Stop {
    void run() throws Exception;
  }

  private ServerProcess() {
  }

  /** @return 0, when the main thread is interrupted (the process normally ends by the hook first) */
  public static int runUntilStopped(String name, String url, Stop stop) {
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        stop.run();
      } catch (Exception e) {
        LOG.warn("{} did not stop cleanly: {}", name, e.getMessage());
      }
    }, name + "-shutdown"));
    System.out.println(name + " listening on " + url);
    System.out.flush();
    try {
      Thread.currentThread().join();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    return 0;
  }
}
