package io.iqa.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.iqa.client.ClientJson;
import io.iqa.client.LeaseClient;
import io.iqa.protocol.Text;
import io.iqa.protocol.wire.LeaseState;
import io.iqa.protocol.wire.LeaseView;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/** {@code iqa gpu status}, {@code iqa gpu force-release}, {@code iqa gpu run} and {@code iqa gpu serve}. */
@Command(name = "gpu", mixinStandardHelpOptions = true, description = "GPU leases at the broker.",
    subcommands = {GpuCli.Status.class, GpuCli.ForceRelease.class, GpuRun.class, GpuServe.class})
final class GpuCli {

  @ParentCommand IqaMain main;

  @Command(name = "status", mixinStandardHelpOptions = true, description = "Who holds which GPU, who waits.")
  static final class Status implements Callable<Integer> {
    @ParentCommand GpuCli gpu;

    @Override
    public Integer call() {
      try (LeaseClient client = gpu.main.config().leaseClient()) {
        JsonNode status = client.status();
        List<List<String>> rows = new ArrayList<>();
        for (JsonNode g : status.path("gpus")) {
          String gpuName = g.path("gpu").asText() + (g.path("vram_mb").asInt() > 0
              ? " (" + g.path("free_vram_mb").asInt() + "/" + g.path("vram_mb").asInt() + " MB free)" : "");
          for (JsonNode node : g.path("leases")) {
            LeaseView l = io.iqa.protocol.wire.WireJson.fromTree(node, LeaseView.class);
            String state = l.state() == LeaseState.REVOKING ? "revoking (" + l.revoked() + ")" : "held";
            rows.add(List.of(gpuName, state, l.owner(), Long.toString(l.leaseId()), l.purpose(),
                String.format("%.0f s", l.ageS()), String.format("%.0f s", l.expiresInS()),
                l.pid() == null ? "" : l.pid().toString()));
          }
          for (JsonNode w : g.path("waiting")) {
            rows.add(List.of(gpuName, "waiting", w.path("owner").asText(), "", w.path("purpose").asText(),
                String.format("%.0f s", w.path("waited_s").asDouble()), "", ""));
          }
          if (g.path("leases").isEmpty() && g.path("waiting").isEmpty()) {
            rows.add(List.of(gpuName, "free", "", "", "", "", "", ""));
          }
        }
        Table.print(gpu.main.out(), List.of("gpu", "state", "owner", "lease", "purpose", "age", "expires in", "pid"), rows);
        gpu.main.out().println("store " + status.path("store").asText() + ", stale after "
            + status.path("stale_max_age_s").asText() + " s, at " + status.path("time").asText()
            + (status.hasNonNull("recovering_until") ? "; recovering (no grants) until "
                + status.path("recovering_until").asText() : ""));
        return IqaMain.OK;
      }
    }
  }

  @Command(name = "force-release", mixinStandardHelpOptions = true,
      description = "Revoke leases: each holder is told to stop; its GPU is handed on when it releases, or at its "
          + "expires_at (at once with --immediate).")
  static final class ForceRelease implements Callable<Integer> {
    @ParentCommand GpuCli gpu;

    static final class Selector {
      @Option(names = "--lease", description = "one lease id", required = true) Long lease;
      @Option(names = "--owner", description = "every lease of this owner", required = true) String owner;
    }

    @ArgGroup(multiplicity = "1") Selector selector;
    @Option(names = "--older-than", description = "with --owner: only leases older than N s") Double olderThan;
    @Option(names = "--reason", defaultValue = "force-released with iqa", description = "for the events") String reason;
    @Option(names = "--immediate", description = "hand the GPU on at once, without waiting for the holder to stop "
        + "(for a hung holder; admins only)") boolean immediate;

    @Override
    public Integer call() {
      try (LeaseClient client = gpu.main.config().leaseClient()) {
        List<JsonNode> released = client.forceRelease(selector.lease, selector.owner, olderThan, reason, immediate);
        for (JsonNode l : released) {
          gpu.main.out().println((immediate ? "released lease " : "revoked lease ") + l.path("lease_id").asText() + " of "
              + Text.printable(l.path("owner").asText()) + " on gpu " + l.path("gpu").asText() + (immediate ? ""
              : ": its holder is told to stop; the GPU is handed on when it releases, at "
                  + l.path("expires_at").asText() + " at the latest"));
        }
        if (released.isEmpty()) {
          gpu.main.out().println("no lease matched");
        }
        return IqaMain.OK;
      }
    }
  }
}
