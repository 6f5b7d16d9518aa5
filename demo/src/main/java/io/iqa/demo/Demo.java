package io.iqa.demo;

import com.fasterxml.jackson.databind.JsonNode;
import io.iqa.client.ContainerFallback;
import io.iqa.client.IqaClient;
import io.iqa.client.LeaseClient;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import javax.imageio.ImageIO;

/**
 * {@code scripts/demo}: the main job on the embedded default, with real processes. Starts the lease
 * broker and the sidecar on free ports; scores {@code samples/} through the client library (then
 * again: answered from the cache); an "LLM server" takes the GPU through {@code iqa gpu run} and the
 * sidecar yields; new images meanwhile go to the container fallback (a stand-in {@code docker} that
 * runs the real {@code score} command); after the LLM is done the sidecar takes the GPU back. Then a
 * stand-in vLLM behind {@code iqa gpu serve --adapter vllm} and the sidecar trade the GPU as
 * completions and new images alternate: the vLLM sleeps instead of being killed, and wakes on its
 * next request. Status and events along the way; everything started is stopped at the end, unless
 * {@code --keep}.
 */
public final class Demo {

  private final Path root;
  private final Path work;
  private final Report out = new Report(System.out);

  private Demo(Path root, Path work) {
    this.root = root;
    this.work = work;
  }

  public static void main(String[] args) throws Exception {
    boolean keep = List.of(args).contains("--keep");
    Path root = Path.of(System.getProperty("iqa.root", ".")).toAbsolutePath().normalize();
    Path work = Files.createTempDirectory("iqa-demo-");
    int code;
    try {
      code = new Demo(root, work).run(keep);
    } catch (Exception e) {
      System.err.println("demo failed: " + e.getMessage());
      code = 1;
    }
    System.exit(code);
  }

  private int run(boolean keep) throws Exception {
    List<Path> samples;
    try (Stream<Path> s = Files.list(root.resolve("samples"))) {
      samples = s.filter(p -> p.toString().endsWith(".jpg")).sorted().toList();
    }
    out.step("1. start the lease broker and the sidecar (free ports, logs in " + work + ")");
    // Its own state file in the demo's folder: a first start there (never the user's own broker state).
    // Where there is no nvidia-smi, a stand-in one (gpu 0, 24 GiB) lists the stand-in vLLM's memory of step 7,
    // so the broker can see it fall when the vLLM sleeps.
    Map<String, String> brokerEnv = new java.util.HashMap<>(Map.of("GPU_LEASE_STATE_FILE",
        work.resolve("broker-state.jsonl").toString(), "GPU_LEASE_OBSERVE_INTERVAL_MS", "200"));
    boolean standInSmi = io.iqa.client.ChildProcess.which("nvidia-smi", System.getenv("PATH")) == null;
    if (standInSmi) {
      io.iqa.testkit.StandInNvidiaSmi smi = new io.iqa.testkit.StandInNvidiaSmi(work.resolve("nvidia-smi"),
          Map.of(0, 24576));
      smi.showMemoryFiles(gpuMemory());
      brokerEnv.putAll(smi.pathEnv());
    }
    Started broker = Started.start("lease-broker", root.resolve("lease-broker/target/lease-broker.jar"),
        List.of("--port", "0"), brokerEnv, work);
    out.line("lease broker  " + broker.url + "  pid " + broker.pid() + "  (in-memory store; gpus from nvidia-smi"
        + (standInSmi ? ": no nvidia-smi here, a stand-in one shows gpu 0 of 24 GiB and the stand-in vLLM's memory)"
            : ")"));
    // lease.required: the sidecar leases its GPU here too, though this machine may have none; a miss
    // waits 3 s for the GPU, then answers 503 and the client goes to its fallback.
    Started sidecar;
    try {
      sidecar = Started.start("iqa-sidecar", root.resolve("sidecar/target/iqa-sidecar.jar"),
          List.of("serve", "--port", "0"), Map.of("IQA_SIDECAR_BROKER_URL", broker.url,
              "IQA_SIDECAR_LEASE_REQUIRED", "true", "IQA_SIDECAR_LEASE_WAIT_S", "3", "IQA_SIDECAR_LEASE_TTL_S", "30"),
          work);
    } catch (Exception e) {
      broker.close();
      throw e;
    }
    out.line("sidecar       " + sidecar.url + "  pid " + sidecar.pid() + "  (default model set; takes the GPU "
        + "when work comes, yields when asked)");
    boolean stop = !keep;
    Started front = null;
    try (LeaseClient leases = new LeaseClient(broker.url);
        IqaClient client = IqaClient.builder().sidecarUrl(sidecar.url).brokerUrl(broker.url, null)
            .timeout(Duration.ofSeconds(60))
            .fallback(new ContainerFallback.Settings(true, ContainerFallback.DEFAULT_COMMAND,
                ContainerFallback.DEFAULT_GPU_ARGS, ContainerFallback.DEFAULT_IMAGE,
                ContainerFallback.DEFAULT_CPU_IMAGE, 300, 2, 60, null, ContainerFallback.OnNoLease.CPU,
                "iqa-demo-client", StandInDocker.write(work, root, root.resolve("sidecar/target/iqa-sidecar.jar"))
                    .toString(), ContainerFallback.Settings.DEFAULT_STOP_GRACE_S))
            .build()) {
      out.step("2. score samples/ through the client library: the sidecar takes gpu 0 and scores");
      out.scores(client.scoreAll(samples), client.modelScales());
      out.status(leases.status());

      out.step("3. the same images again: answered from the client's cache, no GPU work");
      out.scores(client.scoreAll(samples), Map.of());

      out.step("4. an LLM server asks for gpu 0: iqa gpu run --owner llm-server -- sleep 12");
      Llm llm = Llm.start(root, broker.url, work);
      JsonNode held = awaitHolder(leases, "llm-server", 60);
      out.line("the sidecar yielded: gpu 0 is now held by " + held.path("owner").asText() + " (lease "
          + held.path("lease_id").asText() + "); the sidecar stopped its worker, freeing the GPU memory");
      out.events(leases.events(), List.of("yield_requested", "released", "granted"));

      out.step("5. new images while the LLM holds the GPU: the sidecar cannot lease it in 3 s (503), so the "
          + "client's fallback runs the one-shot scorer (the CPU image: no lease came within 2 s)");
      out.scores(client.scoreAll(asPng(samples.subList(0, 2))), Map.of());

      out.step("6. the LLM finishes and releases; the next new image brings the sidecar back to the GPU");
      out.line("iqa gpu run exited with " + llm.await() + " (the LLM's own exit code)");
      out.scores(client.scoreAll(asPng(samples.subList(2, 3))), Map.of());
      out.status(leases.status());
      out.events(leases.events(), List.of("granted", "released", "revoked", "yield_requested"));

      out.step("7. an LLM server behind iqa gpu serve --adapter vllm (a stand-in vLLM that holds 8000 MiB of gpu 0 "
          + "while awake): a completion, new images, a completion; the two trade gpu 0 and neither is killed");
      front = LlmFront.start(root, broker.url, gpuMemory(), work);
      out.line("iqa gpu serve " + front.url + "  pid " + front.pid() + "  (fronting the stand-in vLLM; no lease "
          + "until a request comes)");
      long t0 = System.nanoTime();
      String answer = LlmFront.complete(front.url);
      out.line("completion in " + ms(t0) + " ms: the sidecar yielded gpu 0, the front started vLLM on it: " + answer);
      t0 = System.nanoTime();
      out.scores(client.scoreAll(variants(samples.subList(0, 2), 7)), Map.of());
      out.line("scored in " + ms(t0) + " ms: vLLM went to sleep (its memory seen to fall), the front released gpu 0, "
          + "the sidecar took it");
      t0 = System.nanoTime();
      answer = LlmFront.complete(front.url);
      out.line("completion in " + ms(t0) + " ms: the sidecar yielded again, vLLM woke (the same process): " + answer);
      out.line(LlmFront.describe(front.url));
      out.events(leases.events(), List.of("yield_requested", "released", "granted"));
    } catch (Exception e) {
      stop = true;
      throw e;
    } finally {
      if (stop) {
        out.step("8. stop: the front puts vLLM down, the sidecar drains, both release their leases, the broker stops");
        if (front != null) {
          front.close();
        }
        sidecar.close();
        broker.close();
        out.line("stopped (logs kept in " + work + ")");
      } else {
        out.step("8. left running (--keep)");
        out.line("stop them with: kill " + (front != null ? front.pid() + " " : "") + sidecar.pid() + " "
            + broker.pid() + "   (SIGTERM: each drains and releases its lease)");
      }
    }
    out.line("demo finished");
    return 0;
  }

  /** @return once {@code owner} holds gpu 0 in the broker's status, its lease */
  private static JsonNode awaitHolder(LeaseClient leases, String owner, int seconds) throws InterruptedException {
    long end = System.nanoTime() + seconds * 1_000_000_000L;
    while (System.nanoTime() < end) {
      for (JsonNode lease : leases.status().path("gpus").path(0).path("leases")) {
        if (owner.equals(lease.path("owner").asText())) {
          return lease;
        }
      }
      Thread.sleep(200);
    }
    throw new IllegalStateException(owner + " did not get gpu 0 within " + seconds + " s");
  }

  private Path gpuMemory() throws IOException {
    return Files.createDirectories(work.resolve("gpu-memory"));
  }

  private static long ms(long t0) {
    return (System.nanoTime() - t0) / 1_000_000;
  }

  /** @return the images as PNG files with one pixel changed by {@code k}: new images (cache misses) of the same scenes */
  private List<Path> variants(List<Path> images, int k) throws IOException {
    Path dir = Files.createDirectories(work.resolve("variant-" + k));
    List<Path> made = new ArrayList<>();
    for (Path p : images) {
      BufferedImage img = ImageIO.read(p.toFile());
      img.setRGB(0, 0, img.getRGB(0, 0) ^ k);
      Path to = dir.resolve(p.getFileName().toString().replace(".jpg", ".png"));
      ImageIO.write(img, "png", to.toFile());
      made.add(to);
    }
    return made;
  }

  /** @return the images as PNG files: new files (cache misses) of the same scenes */
  private List<Path> asPng(List<Path> images) throws IOException {
    Path dir = Files.createDirectories(work.resolve("png"));
    List<Path> made = new ArrayList<>();
    for (Path p : images) {
      BufferedImage img = ImageIO.read(p.toFile());
      Path to = dir.resolve(p.getFileName().toString().replace(".jpg", ".png"));
      ImageIO.write(img, "png", to.toFile());
      made.add(to);
    }
    return made;
  }
}
