package io.iqa.client;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A loopback TCP forwarder in front of a broker, with a switch that cuts the client off as a
 * network partition does: open connections are dropped, and new ones are accepted but never
 * forwarded, so calls hang until their timeouts. A target that is down (a killed broker) closes
 * the client's connection, as connection refused would.
 */
final class TcpProxy implements AutoCloseable {

  private final ServerSocket server;
  private final int targetPort;
  private final Set<Socket> sockets = ConcurrentHashMap.newKeySet();
  private volatile boolean partitioned;
  private volatile boolean closed;

  TcpProxy(int targetPort) throws IOException {
    this.targetPort = targetPort;
    this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    Thread accept = new Thread(this::accept, "proxy-" + server.getLocalPort());
    accept.setDaemon(true);
    accept.start();
  }

  String url() {
    return "http://127.0.0.1:" + server.getLocalPort();
  }

  /** How long each piece of the server's answer is held before the client gets it. */
  private volatile long answerDelayMs;

  /** Holds every piece of the server's answers for {@code ms} (a slow link back), 0 for none. */
  void delayAnswers(long ms) {
    answerDelayMs = ms;
  }

  /** When the link was last cut or let through again (nanoTime). */
  private volatile long lastChange = Long.MIN_VALUE;

  /** Cuts the client off (true) or lets it through again (false). */
  void partition(boolean on) {
    partitioned = on;
    lastChange = System.nanoTime();
    if (on) {
      dropAll();
    }
  }

  /** @return whether the link was cut (or let through again) at any moment since {@code nanos} */
  boolean partitionedSince(long nanos) {
    return partitioned || lastChange >= nanos;
  }

  private void accept() {
    while (!closed) {
      try {
        Socket client = server.accept();
        sockets.add(client);
        if (partitioned) {
          pump(client.getInputStream(), OutputStream.nullOutputStream(), client, null, false);
          continue;
        }
        Socket target;
        try {
          target = new Socket(InetAddress.getLoopbackAddress(), targetPort);
        } catch (IOException down) {
          sockets.remove(client);
          client.close();
          continue;
        }
        sockets.add(target);
        pump(client.getInputStream(), target.getOutputStream(), client, target, false);
        pump(target.getInputStream(), client.getOutputStream(), client, target, true);
      } catch (IOException e) {
        if (closed) {
          return;
        }
      }
    }
  }

  private void pump(InputStream in, OutputStream out, Socket a, Socket b, boolean answers) {
    Thread t = new Thread(() -> {
      byte[] buf = new byte[8192];
      try {
        for (int n = in.read(buf); n >= 0; n = in.read(buf)) {
          if (answers && answerDelayMs > 0) {
            Thread.sleep(answerDelayMs);
          }
          out.write(buf, 0, n);
          out.flush();
        }
      } catch (IOException ignored) {
        // either side went away
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } finally {
        closeQuietly(a);
        closeQuietly(b);
      }
    }, "proxy-pump");
    t.setDaemon(true);
    t.start();
  }

  private void dropAll() {
    sockets.forEach(TcpProxy::closeQuietly);
    sockets.clear();
  }

  private static void closeQuietly(Socket s) {
    if (s != null) {
      try {
        s.close();
      } catch (IOException ignored) {
        // closing
      }
    }
  }

  @Override
  public void close() throws IOException {
    closed = true;
    server.close();
    dropAll();
  }
}
