package io.iqa.server;

import io.iqa.protocol.ListeningLine;
import io.iqa.protocol.config.ConfigException;
import io.vertx.core.Deployable;
import io.vertx.core.Vertx;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
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

  /**
   * Deploys a server's verticle; when it fails, says so on stderr as {@code NAME: failed to start:
   * why} and closes {@code vertx}.
   *
   * @return null once it serves, else the exit code: 2 for a configuration mistake, 1 otherwise
   */
  public static Integer deploy(String name, Vertx vertx, Deployable verticle, long timeoutS) {
    exitOnOutOfMemory(name, vertx);
    try {
      vertx.deployVerticle(verticle).await(timeoutS, TimeUnit.SECONDS);
      return null;
    } catch (Exception e) {
      Throwable cause = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
      System.err.println(name + ": failed to start: " + cause.getMessage());
      vertx.close();
      return cause instanceof ConfigException ? 2 : 1;
    }
  }

  /**
   * An {@link OutOfMemoryError} (or any VirtualMachineError) ends the process with exit code 3, as
   * {@code -XX:+ExitOnOutOfMemoryError} does (every start script, unit and image passes it too):
   * a server that lives on after one answers nothing, and no supervisor restarts it.
   */
  static void exitOnOutOfMemory(String name, Vertx vertx) {
    vertx.exceptionHandler(t -> {
      if (t instanceof VirtualMachineError) {
        halt(name, t);
      }
      LOG.error("unhandled exception in {}", name, t);
    });
    Thread.UncaughtExceptionHandler before = Thread.getDefaultUncaughtExceptionHandler();
    Thread.setDefaultUncaughtExceptionHandler((thread, t) -> {
      if (t instanceof VirtualMachineError) {
        halt(name, t);
      }
      if (before != null) {
        before.uncaughtException(thread, t);
      } else {
        t.printStackTrace();
      }
    });
  }

  private static void halt(String name, Throwable t) {
    System.err.println(name + ": " + t + ": exiting (code 3) so that a supervisor restarts it");
    Runtime.getRuntime().halt(3);
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
    System.out.println(ListeningLine.of(name, url));
    System.out.flush();
    try {
      Thread.currentThread().join();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    return 0;
  }
}
