package io.iqa.testkit;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;

/**
 * A socket that speaks HTTP/1.1 byte by byte, as a careless or hostile client does: half-sent
 * heads, drips, lies in Content-Length. For tests of what a server does with such clients.
 */
public final class RawHttp implements AutoCloseable {

  public final Socket socket;

  public RawHttp(int port) throws IOException {
    socket = new Socket();
    socket.connect(new InetSocketAddress("127.0.0.1", port), 5000);
    socket.setSoTimeout(30_000);
  }

  public RawHttp send(String text) throws IOException {
    return send(text.getBytes(StandardCharsets.ISO_8859_1));
  }

  public RawHttp send(byte[] bytes) throws IOException {
    socket.getOutputStream().write(bytes);
    socket.getOutputStream().flush();
    return this;
  }

  /** One answer: status line, head and body (by Content-Length), or null when the server closed first. */
  public Answer read() throws IOException {
    InputStream in = socket.getInputStream();
    ByteArrayOutputStream head = new ByteArrayOutputStream();
    int b;
    while ((b = in.read()) >= 0) {
      head.write(b);
      byte[] h = head.toByteArray();
      int n = h.length;
      if (n >= 4 && h[n - 4] == '\r' && h[n - 3] == '\n' && h[n - 2] == '\r' && h[n - 1] == '\n') {
        break;
      }
    }
    if (head.size() == 0) {
      return null;
    }
    String headText = head.toString(StandardCharsets.ISO_8859_1);
    int status = Integer.parseInt(headText.split(" ")[1]);
    int length = 0;
    for (String line : headText.split("\r\n")) {
      if (line.toLowerCase().startsWith("content-length:")) {
        length = Integer.parseInt(line.substring(15).trim());
      }
    }
    byte[] body = in.readNBytes(length);
    return new Answer(status, headText, new String(body, StandardCharsets.UTF_8));
  }

  /**
   * @return milliseconds until the server closed the connection (reading and dropping anything it
   *     sent), or -1 when it was still open after {@code withinMs}
   */
  public long millisUntilClosed(long withinMs) throws IOException {
    long t0 = System.nanoTime();
    socket.setSoTimeout((int) withinMs);
    try {
      InputStream in = socket.getInputStream();
      while (in.read() >= 0) {
        if ((System.nanoTime() - t0) / 1_000_000 > withinMs) {
          return -1;
        }
      }
      return (System.nanoTime() - t0) / 1_000_000;
    } catch (SocketTimeoutException e) {
      return -1;
    } catch (IOException reset) {
      return (System.nanoTime() - t0) / 1_000_000;
    }
  }

  @Override
  public void close() throws IOException {
    socket.close();
  }

  /** A raw answer. */
  public record Answer(int status, String head, String body) {
  }
}
