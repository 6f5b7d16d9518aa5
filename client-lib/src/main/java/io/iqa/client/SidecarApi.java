package io.iqa.client;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * The sidecar's HTTP API as {@link IqaClient} calls it: {@code /infer} for the client's models (its
 * answer read into a {@link ScoreResult}), {@code /shutdown}, {@code /release}, {@code /health} and
 * {@code /v1/models}. A program reaches the operator's three through {@link IqaClient#sidecar()}.
 */
public final class SidecarApi {

  /** An image as a request body, read only when the request is made. */
  interface Body {
    HttpRequest.BodyPublisher get() throws IOException;
  }

  private final Http http;
  private final String inferPath;

  SidecarApi(String url, String token, Duration timeout, List<String> models) {
    this.http = new Http(url, token, timeout);
    this.inferPath = models.isEmpty() ? "/infer" : "/infer?models=" + String.join(",", models);
  }

  CompletableFuture<ScoreResult> score(Body body) {
    try {
      return http.send("POST", inferPath, body.get(), "application/octet-stream", null).thenApply(r -> {
        JsonNode j = Http.expect(r, "sidecar /infer", 200);
        return ScoreResult.fromJson(j, "sidecar");
      });
    } catch (IOException e) {
      return CompletableFuture.failedFuture(new IqaException("cannot read the image: " + e.getMessage(), e));
    }
  }

  /** Asks the sidecar to shut down (frees its GPU memory and lease). @return its answer */
  public JsonNode shutdown() {
    return Http.expect(Http.join(http.send("POST", "/shutdown", null, "application/json", null)), "sidecar /shutdown", 202);
  }

  /**
   * Asks the sidecar to give the GPU back now ({@code POST /release}): its worker stops and its
   * lease is released; it keeps serving cached scores and takes the GPU again for the next new
   * image. @return its answer, once the GPU is free
   */
  public JsonNode releaseGpu() {
    return Http.expect(Http.join(http.send("POST", "/release", null, "application/json", null)), "sidecar /release", 200);
  }

  /** @return the sidecar's /health, or fails when it does not answer */
  public JsonNode health() {
    return Http.expect(Http.join(http.get("/health")), "sidecar /health", 200);
  }

  JsonNode models() {
    return Http.expect(Http.join(http.get("/v1/models")), "sidecar /v1/models", 200);
  }
}
