package io.iqa.bench;

import io.iqa.client.IqaClient;
import io.iqa.sidecar.SidecarMain;
import io.iqa.sidecar.samples.SampleImages;
import io.iqa.sidecar.service.SidecarOptions;
import io.iqa.sidecar.service.SidecarVerticle;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.imageio.ImageIO;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * What the sidecar saves the client: N images through a running sidecar (IqaClient.scoreAll)
 * against N one-shot {@code score} runs, each a fresh JVM loading the models, which is the
 * container fallback's cost without docker's own start-up.
 */
@Command(name = "client",
    description = "N images via a running sidecar vs N one-shot score runs (the fallback's cost).")
final class ClientBench extends BenchCommand {

  @Option(names = "--images", defaultValue = "50", description = "images") int images;

  @Override
  public Integer call() throws Exception {
    Path dir = Files.createTempDirectory("bench-client");
    List<Path> files = new ArrayList<>();
    for (int i = 0; i < images; i++) {
      Path p = dir.resolve("img" + i + ".jpg");
      int shift = i - images / 2;
      ImageIO.write(SampleImages.perChannel(SampleImages.scene(384), v -> v + shift), "jpeg", p.toFile());
      files.add(p);
    }
    Vertx vertx = Vertx.vertx();
    double sidecarS;
    try {
      SidecarVerticle sidecar = new SidecarVerticle(SidecarOptions.read(new JsonObject().put("port", 0)
          .put("device", "cpu").put("models", io.iqa.sidecar.model.builtin.Builtins.entries())), dir);
      vertx.deployVerticle(sidecar).await(120, TimeUnit.SECONDS);
      try (IqaClient client = IqaClient.builder().sidecarUrl("http://127.0.0.1:" + sidecar.actualPort())
          .fallback(null).build()) {
        long t0 = System.nanoTime();
        Map<Path, IqaClient.Outcome> result = client.scoreAll(files);
        sidecarS = (System.nanoTime() - t0) / 1e9;
        if (result.values().stream().anyMatch(o -> o.result() == null)) {
          throw new IllegalStateException("an image failed through the sidecar: " + result);
        }
      }
    } finally {
      vertx.close().await(30, TimeUnit.SECONDS);
    }
    System.out.printf("sidecar: %d images in %.2f s; now %d one-shot runs...%n", images, sidecarS, images);
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    long t0 = System.nanoTime();
    for (Path f : files) {
      Process p = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), SidecarMain.class.getName(),
          "score", f.toString()).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
      if (!p.waitFor(120, TimeUnit.SECONDS) || p.exitValue() != 0) {
        throw new IllegalStateException("one-shot score of " + f + " failed (exit " + p.exitValue() + ")");
      }
    }
    double oneShotS = (System.nanoTime() - t0) / 1e9;
    double ratio = oneShotS / sidecarS;
    new ResultTable("Client: a running sidecar vs one-shot score runs (default model set, CPU)")
        .note(images + " distinct 384x384 JPEGs; sidecar: IqaClient.scoreAll (concurrency 4) against a sidecar that was "
            + "already running (start-up not counted); one-shot: one `score` process per image, each starting a JVM and "
            + "loading the models (the container fallback's cost, without docker's own start-up)")
        .row(images + " images through the sidecar", String.format("%.2f s", sidecarS), "", "")
        .row(images + " one-shot score runs", String.format("%.2f s", oneShotS), "", "")
        .row("one-shot / sidecar", String.format("%.1f", ratio), ">= 10", ResultTable.check(ratio, 10, true))
        .printAndWrite(results.or("client.md"));
    return 0;
  }
}
