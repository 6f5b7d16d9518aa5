package io.iqa.testkit;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Checks a history of grants recorded by clients: no two intervals on a device overlap beyond its
 * capacity, and lease ids are unique and increasing. Each lease is known by an interval that starts
 * when its grant answer arrived and ends at {@code aliveUntilNs}, which is either
 * <ul>
 *   <li>the last moment the client had proof the lease was alive (the send time of its last
 *       successful renew, or of its release): an inner interval of the broker's own record, so an
 *       overlap is a double grant in the broker's bookkeeping; or</li>
 *   <li>the moment the holder stopped believing it may use the GPU (it released, heard of a
 *       revocation and stopped, reached its own deadline, or was killed): an overlap is two programs
 *       using one GPU at once, the failure the whole project exists to prevent.</li>
 * </ul>
 */
public final class LeaseHistoryChecker {

  /** One granted lease as a client saw it. Times are System.nanoTime() of one JVM. */
  public record Grant(long leaseId, int gpu, int vramMb, boolean exclusive, long requestSentNs, long grantReceivedNs,
      long aliveUntilNs, String client) {
  }

  /** What a check run records from many threads: every grant, and how often each kind of thing happened. */
  public static final class Recorder {
    private final List<Grant> grants = new ArrayList<>();
    private final Map<String, AtomicLong> counts = new ConcurrentHashMap<>();

    public synchronized void grant(Grant g) {
      grants.add(g);
    }

    public synchronized List<Grant> grants() {
      return new ArrayList<>(grants);
    }

    /** Counts one more {@code what}. */
    public void count(String what) {
      counts.computeIfAbsent(what, k -> new AtomicLong()).incrementAndGet();
    }

    /** @return how often {@code what} was counted */
    public long seen(String what) {
      AtomicLong c = counts.get(what);
      return c == null ? 0 : c.get();
    }

    @Override
    public String toString() {
      return grants().size() + " grants, " + new TreeMap<>(counts);
    }
  }

  /** One of a check run's many clients: its name (in the grants it records), its own random choices, the recorder. */
  public abstract static class Participant {
    protected final String name;
    protected final Random rnd;
    protected final Recorder run;

    /** @param seed its random choices' seed: a run is replayed with the same seeds */
    protected Participant(String name, long seed, Recorder run) {
      this.name = name;
      this.rnd = new Random(seed);
      this.run = run;
    }
  }

  private final Map<Integer, Integer> capacity;

  public LeaseHistoryChecker(Map<Integer, Integer> capacityMbByGpu) {
    this.capacity = capacityMbByGpu;
  }

  /** @return the problems found, each naming the leases involved; empty when the history is sound */
  public List<String> check(List<Grant> grants) {
    List<String> problems = new ArrayList<>();
    Set<Long> ids = new HashSet<>();
    for (Grant g : grants) {
      if (!ids.add(g.leaseId())) {
        problems.add("lease_id " + g.leaseId() + " was granted twice");
      }
    }
    checkIdsIncrease(grants, problems);
    Map<Integer, List<Grant>> byGpu = new HashMap<>();
    grants.forEach(g -> byGpu.computeIfAbsent(g.gpu(), k -> new ArrayList<>()).add(g));
    byGpu.forEach((gpu, list) -> checkCapacity(gpu, list, problems));
    return problems;
  }

  /** A grant whose request was sent after another grant's answer arrived must have a larger id. */
  private static void checkIdsIncrease(List<Grant> grants, List<String> problems) {
    List<Grant> byReceived = new ArrayList<>(grants);
    byReceived.sort(Comparator.comparingLong(Grant::grantReceivedNs));
    long[] received = new long[byReceived.size()];
    Grant[] maxSoFar = new Grant[byReceived.size()];
    Grant max = null;
    for (int i = 0; i < byReceived.size(); i++) {
      Grant g = byReceived.get(i);
      received[i] = g.grantReceivedNs();
      if (max == null || g.leaseId() > max.leaseId()) {
        max = g;
      }
      maxSoFar[i] = max;
    }
    for (Grant g : grants) {
      int idx = lastBefore(received, g.requestSentNs());
      if (idx >= 0 && maxSoFar[idx].leaseId() >= g.leaseId()) {
        problems.add("lease_id " + g.leaseId() + " (" + g.client() + ") was requested after lease_id "
            + maxSoFar[idx].leaseId() + " (" + maxSoFar[idx].client() + ") was granted, yet is not larger");
      }
    }
  }

  private static int lastBefore(long[] sorted, long t) {
    int lo = 0;
    int hi = sorted.length - 1;
    int ans = -1;
    while (lo <= hi) {
      int mid = (lo + hi) >>> 1;
      if (sorted[mid] < t) {
        ans = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return ans;
  }

  private void checkCapacity(int gpu, List<Grant> list, List<String> problems) {
    int cap = capacity.getOrDefault(gpu, 0);
    record Edge(long t, boolean start, Grant g) {
    }
    List<Edge> edges = new ArrayList<>();
    for (Grant g : list) {
      if (g.aliveUntilNs() > g.grantReceivedNs()) {
        edges.add(new Edge(g.grantReceivedNs(), true, g));
        edges.add(new Edge(g.aliveUntilNs(), false, g));
      }
    }
    // Ends before starts at the same instant: touching inner intervals prove no overlap.
    edges.sort(Comparator.comparingLong(Edge::t).thenComparing(e -> e.start()));
    Set<Grant> active = new HashSet<>();
    for (Edge e : edges) {
      if (!e.start()) {
        active.remove(e.g());
        continue;
      }
      for (Grant other : active) {
        if (e.g().exclusive() || other.exclusive() || cap == 0) {
          problems.add("gpu " + gpu + ": lease " + e.g().leaseId() + " (" + e.g().client() + ", "
              + (e.g().exclusive() ? "whole device" : e.g().vramMb() + " MB") + ") granted while lease "
              + other.leaseId() + " (" + other.client() + ", " + (other.exclusive() ? "whole device" : other.vramMb() + " MB")
              + ") was still in its interval (alive or in use)");
          break;
        }
      }
      active.add(e.g());
      int used = active.stream().mapToInt(Grant::vramMb).sum();
      if (cap > 0 && used > cap && active.stream().noneMatch(Grant::exclusive)) {
        problems.add("gpu " + gpu + ": " + used + " MB held at once (capacity " + cap + ") after lease "
            + e.g().leaseId() + "; holders " + active.stream().map(Grant::leaseId).sorted().toList());
      }
    }
  }
}
