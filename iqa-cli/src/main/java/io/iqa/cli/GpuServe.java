package io.iqa.cli;

import io.iqa.holder.serve.Adapter;
import io.iqa.holder.serve.ModelServerFront;
import io.iqa.holder.serve.ServeOptions;
import io.iqa.protocol.Text;
import io.iqa.protocol.wire.LeaseRequest;
import io.iqa.protocol.wire.Priority;
import io.vertx.core.Vertx;
import java.net.URI;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * {@code iqa gpu serve --listen HOST:PORT --upstream URL --adapter A [-- CMD ARGS...]}: a front
 * that holds the GPU for a model server only while requests come ({@link ModelServerFront}); the
 * server sleeps when another program needs the GPU and wakes on its next request. Runs until
 * SIGTERM or SIGINT, then puts the server down and releases the lease.
 */
@Command(name = "serve", mixinStandardHelpOptions = true, showDefaultValues = true,
    description = {"Front any HTTP model server with a GPU lease: it wakes (or starts) on a request, and sleeps "
        + "(or stops) when another program needs the GPU, after --idle-release-s, or on a revocation.",
        "Adapters: vllm (sleep mode), ollama (unload), llama-server (router unload; else restart), comfyui (/free), "
            + "restart (stop and start). See docs/serve.md."})
final class GpuServe implements Callable<Integer> {

  @ParentCommand GpuCli gpu;
  @Option(names = "--listen", defaultValue = "127.0.0.1:8000", description = "HOST:PORT where clients reach the "
      + "model server") String listen;
  @Option(names = "--upstream", required = true, description = "the model server's URL (http://127.0.0.1:8001)")
  URI upstream;
  @Option(names = "--adapter", defaultValue = "restart", description = "vllm, ollama, llama-server, comfyui or "
      + "restart") String adapter;
  @Option(names = "--owner", defaultValue = "model-server", description = "lease owner") String owner;
  @Option(names = "--purpose", description = "shown in the broker's status (default: 'iqa gpu serve ADAPTER')")
  String purpose;
  @Option(names = "--health", defaultValue = "/health", description = "the path that answers 2xx once the server "
      + "serves (Ollama: /, ComfyUI: /system_stats)") String health;
  @Option(names = "--idle-release-s", defaultValue = "300", description = "sleep and release after this long "
      + "without a request (0: never)") long idleReleaseS;
  @Option(names = "--priority", defaultValue = "normal", description = "low, normal or high") Priority priority;
  @Option(names = "--gpu", description = "device index (default: any)") Integer gpuIndex;
  @Option(names = "--ttl-s", defaultValue = "60", description = "lease ttl, renewed every ttl/3") double ttlS;
  @Option(names = "--wait-s", defaultValue = "600", description = "how long a request waits for the GPU")
  double waitS;
  @Option(names = "--queue-limit", defaultValue = "64", description = "requests that may wait for the server; "
      + "beyond, 503 with Retry-After") int queueLimit;
  @Option(names = "--wake-timeout-s", defaultValue = "300", description = "how long a start or wake may take")
  double wakeTimeoutS;
  @Option(names = "--sleep-timeout-s", defaultValue = "60", description = "how long a sleep (and the memory check "
      + "after it) may take before the server is stopped") double sleepTimeoutS;
  @Option(names = "--drain-timeout-s", defaultValue = "120", description = "how long requests in flight may run "
      + "after a yield or idle release") double drainTimeoutS;
  @Option(names = "--grace-s", defaultValue = "10", description = "after SIGTERM, SIGKILL when it has not exited")
  double graceS;
  @Option(names = "--residue-mb", description = "GPU memory the server may keep while asleep (default: the "
      + "adapter's: vllm 1024, comfyui 512, others 0)") Integer residueMb;
  @Option(names = "--vllm-level", defaultValue = "1", description = "vLLM sleep level (1: weights to host memory; "
      + "2: discarded)") int vllmLevel;

  @Parameters(arity = "0..*", paramLabel = "CMD", description = "the server's command (after --), started on the "
      + "leased GPU only; without it the server is someone else's and the front can only ask it to sleep")
  List<String> command = List.of();

  @Override
  public Integer call() throws Exception {
    if (!Adapter.NAMES.contains(adapter)) {
      gpu.main.err().println("iqa: --adapter must be one of " + Adapter.NAMES + ", not '" + Text.printable(adapter)
          + "'");
      return IqaMain.USAGE;
    }
    int colon = listen.lastIndexOf(':');
    if (colon <= 0 || !listen.substring(colon + 1).matches("\\d{1,5}")) {
      gpu.main.err().println("iqa: --listen must be HOST:PORT, not '" + Text.printable(listen) + "'");
      return IqaMain.USAGE;
    }
    if (upstream.getHost() == null || !"http".equals(upstream.getScheme())) {
      gpu.main.err().println("iqa: --upstream must be an http:// URL, not '" + Text.printable(upstream.toString())
          + "'");
      return IqaMain.USAGE;
    }
    if (!command.isEmpty() && io.iqa.client.ChildProcess.which(command.get(0), System.getenv("PATH")) == null) {
      gpu.main.err().println("iqa: " + Text.printable(command.get(0)) + ": command not found");
      return 127;
    }
    LeaseRequest request = LeaseRequest.of(owner).withPurpose(purpose != null ? purpose : "iqa gpu serve " + adapter)
        .withGpu(gpuIndex).withWait(waitS).withTtl(ttlS).withPriority(priority).withYield(true)
        .withPid(ProcessHandle.current().pid());
    ServeOptions o = new ServeOptions(listen.substring(0, colon), Integer.parseInt(listen.substring(colon + 1)),
        upstream, adapter, vllmLevel, health, idleReleaseS, queueLimit, wakeTimeoutS, sleepTimeoutS, drainTimeoutS,
        graceS, residueMb, gpu.main.config().brokerUrl(), gpu.main.config().brokerToken(), request, command);
    Vertx vertx = Vertx.vertx();
    ModelServerFront front = new ModelServerFront(vertx, o);
    CountDownLatch stopped = new CountDownLatch(1);
    try {
      int port = front.start().await(30, TimeUnit.SECONDS);
      // The line scripts, the demo and the tests wait for, as the broker's and the sidecar's.
      System.out.println(io.iqa.protocol.ListeningLine.of("iqa gpu serve", "http://" + o.listenHost() + ":" + port));
      System.out.flush();
    } catch (Exception e) {
      gpu.main.err().println("iqa: the front did not start: " + Text.printable(String.valueOf(e.getMessage())));
      vertx.close();
      return IqaMain.PARTLY_FAILED;
    }
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        front.shutdown("SIGTERM").await(Math.round(o.drainTimeoutS() + o.sleepTimeoutS() + o.graceS() + 10),
            TimeUnit.SECONDS);
      } catch (Exception e) {
        System.err.println("iqa gpu serve: shutdown: " + e.getMessage());
      } finally {
        stopped.countDown();
      }
    }, "serve-shutdown"));
    stopped.await();
    return IqaMain.OK;
  }
}
