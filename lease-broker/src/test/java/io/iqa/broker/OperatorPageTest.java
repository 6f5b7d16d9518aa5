package io.iqa.broker;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.broker.TestBroker.Reply;
import io.iqa.protocol.Sha256;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;

/**
 * The operator page at {@code /} in headless Chromium (Debian's chromium and chromium-driver,
 * which scripts/test installs): on a broker with auth on, the page asks for the token, then a lease
 * appears live with its owner and purpose, a force-release from the page (confirmed in the dialog)
 * revokes it, and when its holder releases it disappears; the events show each step. The last
 * page is saved as {@code target/operator-page.png}, the page with the lease as
 * {@code target/operator-page-lease.png}.
 */
class OperatorPageTest {

  private static final Path CHROMIUM = Path.of("/usr/bin/chromium");
  private static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");
  private static final String ADMIN = "ops-secret";
  private static final String CLIENT = "llm-secret";

  private TestBroker broker;
  private WebDriver page;

  @BeforeEach
  void start() {
    assertTrue(Files.isExecutable(CHROMIUM) && Files.isExecutable(CHROMEDRIVER),
        "headless Chromium is needed: apt-get install chromium chromium-driver (scripts/test installs them)");
    JsonArray tokens = new JsonArray()
        .add(new JsonObject().put("name", "ops").put("token_sha256", Sha256.hex(ADMIN)).put("role", "admin"))
        .add(new JsonObject().put("name", "llm").put("token_sha256", Sha256.hex(CLIENT))
            .put("owners", new JsonArray().add("llm-server")));
    broker = new TestBroker(new JsonObject().put("auth", new JsonObject().put("tokens", tokens))
        .put("gpus", new JsonArray().add(new JsonObject().put("index", 0).put("vram_mb", 0))));
    ChromeOptions options = new ChromeOptions().setBinary(CHROMIUM.toFile())
        .addArguments("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900");
    page = new ChromeDriver(new ChromeDriverService.Builder().usingDriverExecutable(CHROMEDRIVER.toFile())
        .usingAnyFreePort().build(), options);
  }

  @AfterEach
  void stop() throws Exception {
    try {
      screenshot("operator-page.png");
    } finally {
      page.quit();
      broker.close();
    }
  }

  @Test
  void aLeaseAppearsLiveAndAForceReleaseFromThePageRevokesIt() throws Exception {
    page.get("http://127.0.0.1:" + broker.port + "/");
    assertEquals("GPU lease broker", page.getTitle());
    awaitShown(By.id("auth"));
    page.findElement(By.id("token")).sendKeys(ADMIN);
    page.findElement(By.cssSelector("#auth button[type=submit]")).click();
    awaitText(By.cssSelector(".gpu[data-gpu='0'] .free"), "free");

    JsonObject held = broker.lease(new JsonObject().put("owner", "llm-server").put("purpose", "<b>night</b> batch")
        .put("gpu", 0).put("ttl_s", 60), CLIENT);
    By row = By.cssSelector("tr.lease[data-owner='llm-server']");
    awaitText(row, "<b>night</b> batch");
    awaitText(row, "held");
    assertTrue(page.findElements(By.cssSelector("tr.lease b")).isEmpty(),
        "broker text must reach the page as text, never as markup");
    awaitShown(By.cssSelector("#events tr[data-type='granted']"));
    screenshot("operator-page-lease.png");

    // The page redraws its tables as the status changes: find the button again until a click lands.
    await().atMost(Duration.ofSeconds(10)).ignoreExceptions()
        .until(() -> {
          page.findElement(By.cssSelector("tr.lease[data-owner='llm-server'] button.force")).click();
          return true;
        });
    String question = page.switchTo().alert().getText();
    assertTrue(question.contains("lease " + held.getLong("lease_id") + " of llm-server"), question);
    page.switchTo().alert().accept();
    awaitText(By.id("message"), "revoked");
    awaitText(row, "revoking");
    awaitShown(By.cssSelector("#events tr[data-type='force_released']"));

    Reply released = broker.post("/v1/gpu/release", new JsonObject().put("token", held.getString("token")), CLIENT);
    assertEquals(200, released.status(), released.toString());
    await().atMost(Duration.ofSeconds(10)).until(() -> page.findElements(
        By.cssSelector("tr.lease[data-owner='llm-server']")).isEmpty());
    awaitShown(By.cssSelector("#events tr[data-type='revoke_confirmed']"));
    List<String> events = page.findElements(By.cssSelector("#events tbody tr")).stream()
        .map(e -> e.getDomAttribute("data-type")).toList();
    assertEquals(List.of("revoke_confirmed", "force_released", "granted"), events.subList(0, 3), events.toString());
  }

  /** Round 2: the page asked for /v1/gpu/status once per event; one load of 1,000 events made 1,002 requests. */
  @Test
  void aPageLoadWithHundredsOfEventsAsksForTheStatusAFewTimesNotOncePerEvent() throws Exception {
    for (int i = 0; i < 150; i++) {
      JsonObject l = broker.lease(new JsonObject().put("owner", "llm-server").put("gpu", 0), CLIENT);
      assertEquals(200, broker.post("/v1/gpu/release", new JsonObject().put("token", l.getString("token")), CLIENT)
          .status());
    }
    page.get("http://127.0.0.1:" + broker.port + "/");
    awaitShown(By.id("auth"));
    page.findElement(By.id("token")).sendKeys(ADMIN);
    page.findElement(By.cssSelector("#auth button[type=submit]")).click();
    await().atMost(Duration.ofSeconds(20)).until(() -> page.findElements(By.cssSelector("#events tbody tr")).size() >= 50);
    Thread.sleep(2000);
    long statusRequests = (Long) ((org.openqa.selenium.JavascriptExecutor) page).executeScript(
        "return performance.getEntriesByType('resource').filter(e => e.name.includes('/v1/gpu/status')).length;");
    assertTrue(statusRequests <= 10, statusRequests + " status requests for 300 events");
  }

  /** Saves what the page shows now under target/, a build artifact. */
  private void screenshot(String name) throws Exception {
    Files.write(Path.of("target", name), ((ChromeDriver) page).getScreenshotAs(OutputType.BYTES));
  }

  /** Waits until {@code what} is on the page and shown (the page redraws: elements go stale, so look again). */
  private void awaitShown(By what) {
    await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(100)).ignoreExceptions()
        .until(() -> page.findElement(what).isDisplayed());
  }

  private void awaitText(By what, String text) {
    await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(100)).ignoreExceptions()
        .until(() -> page.findElement(what).getText().contains(text));
  }
}
