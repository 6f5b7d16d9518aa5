package io.iqa.testkit;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;

/**
 * A web page of another origin (its own port on 127.0.0.1), opened in headless Chromium (Debian's
 * chromium and chromium-driver, as OperatorPageTest uses them): what any page a user opens on the
 * GPU host can send to a server on loopback. It fires each of its requests the way a page may
 * without asking the server first (no-cors fetches with the content types a form can send, bodiless
 * POSTs, a form post), and one that needs a CORS preflight, then records what it saw.
 */
public final class HostilePage implements AutoCloseable {

  private static final Path CHROMIUM = Path.of("/usr/bin/chromium");
  private static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");

  /** One request the page sends: {@code body} null for none. */
  public record Attempt(String name, String url, String contentType, String body) {
  }

  private final HttpServer server;
  private final WebDriver browser;

  public HostilePage() throws Exception {
    assertTrue(Files.isExecutable(CHROMIUM) && Files.isExecutable(CHROMEDRIVER),
        "headless Chromium is needed: apt-get install chromium chromium-driver (scripts/test installs them)");
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.start();
    ChromeOptions options = new ChromeOptions().setBinary(CHROMIUM.toFile())
        .addArguments("--headless=new", "--no-sandbox", "--disable-dev-shm-usage");
    browser = new ChromeDriver(new ChromeDriverService.Builder().usingDriverExecutable(CHROMEDRIVER.toFile())
        .usingAnyFreePort().build(), options);
  }

  /** @return the page's own origin, not the server's */
  public String origin() {
    return "http://127.0.0.1:" + server.getAddress().getPort();
  }

  /**
   * Opens a page that sends every attempt, in order, as a no-cors fetch (the response is opaque to
   * the page, but the request reaches the server: a CSRF), and {@code preflighted} as a normal
   * fetch with {@code Content-Type: application/json} (which the browser sends only if the server
   * grants a preflight). @return the page's log, one line per attempt
   */
  public List<String> fire(List<Attempt> attempts, Attempt preflighted) throws Exception {
    StringBuilder js = new StringBuilder("const log = [];\nasync function go() {\n");
    for (Attempt a : attempts) {
      js.append("  try { await fetch(").append(quote(a.url())).append(", {method: 'POST', mode: 'no-cors'")
          .append(a.contentType() == null ? "" : ", headers: {'Content-Type': " + quote(a.contentType()) + "}")
          .append(a.body() == null ? "" : ", body: " + quote(a.body()))
          .append("}); log.push(").append(quote(a.name() + ": sent")).append("); } catch (e) { log.push(")
          .append(quote(a.name() + ": ")).append(" + e); }\n");
    }
    if (preflighted != null) {
      js.append("  try { const r = await fetch(").append(quote(preflighted.url()))
          .append(", {method: 'POST', headers: {'Content-Type': 'application/json'}, body: ")
          .append(quote(preflighted.body())).append("}); log.push(").append(quote(preflighted.name() + ": "))
          .append(" + r.status); } catch (e) { log.push(").append(quote(preflighted.name() + ": blocked "))
          .append(" + e); }\n");
    }
    js.append("  document.title = 'done';\n}\ngo();\n");
    String html = "<!doctype html><html><head><title>busy</title></head><body><p>a page of another site</p>"
        + "<script>" + js + "</script></body></html>";
    byte[] bytes = html.getBytes(StandardCharsets.UTF_8);
    server.createContext("/", ex -> {
      ex.getResponseHeaders().add("Content-Type", "text/html; charset=utf-8");
      ex.sendResponseHeaders(200, bytes.length);
      ex.getResponseBody().write(bytes);
      ex.close();
    });
    browser.get(origin() + "/");
    org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> "done".equals(browser.getTitle()));
    @SuppressWarnings("unchecked")
    List<String> log = (List<String>) ((JavascriptExecutor) browser).executeScript("return log;");
    server.removeContext("/");
    return log;
  }

  private static String quote(String s) {
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'";
  }

  @Override
  public void close() {
    try {
      browser.quit();
    } finally {
      server.stop(0);
    }
  }
}
