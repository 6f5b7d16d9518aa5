package io.iqa.sidecar.model;

import java.util.concurrent.ThreadFactory;

/** Named daemon threads: the sidecar's helper threads never keep a process alive on their own. */
public final class DaemonThreads {

  private DaemonThreads() {
  }

  /** @return a factory of daemon threads named {@code name} */
  public static ThreadFactory factory(String name) {
    return r -> {
      Thread t = new Thread(r, name);
      t.setDaemon(true);
      return t;
    };
  }

  /** Starts {@code work} on a daemon thread named {@code name}. */
  public static void start(String name, Runnable work) {
    factory(name).newThread(work).start();
  }
}
