package io.iqa.broker.store.memory;

import io.iqa.broker.gpu.GpuDevice;
import io.iqa.broker.store.AcquireRequest;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The memory store's devices and what holds each: which devices a request may use, whether it
 * fits beside the leases there now (a whole-device lease fits only on an empty device; VRAM leases
 * pack while they sum within the device), and whether its lease is exclusive. A revoking lease
 * still holds its capacity: its holder may not have stopped yet.
 */
final class MemoryCapacity {

  private final Map<Integer, GpuDevice> gpus = new TreeMap<>();
  private final Map<Integer, List<MemoryLease>> held = new TreeMap<>();

  void add(GpuDevice gpu) {
    gpus.put(gpu.index(), gpu);
    held.put(gpu.index(), new ArrayList<>());
  }

  boolean has(int gpu) {
    return gpus.containsKey(gpu);
  }

  GpuDevice device(int gpu) {
    return gpus.get(gpu);
  }

  /** @return the leases on {@code gpu} now (a live view) */
  List<MemoryLease> on(int gpu) {
    return held.get(gpu);
  }

  void hold(MemoryLease l) {
    held.get(l.gpu).add(l);
  }

  void free(MemoryLease l) {
    held.get(l.gpu).remove(l);
  }

  /** @return the devices {@code request} may use: the one it names, else every one large enough */
  List<Integer> candidates(AcquireRequest request) {
    if (request.gpu() != null) {
      return gpus.containsKey(request.gpu()) ? List.of(request.gpu()) : List.of();
    }
    List<Integer> out = new ArrayList<>();
    for (int gpu : gpus.keySet()) {
      if (wants(request, gpu)) {
        out.add(gpu);
      }
    }
    return out;
  }

  /** @return whether {@code request} could use {@code gpu} (the one it names, or any large enough) */
  boolean wants(AcquireRequest request, int gpu) {
    if (request.gpu() != null) {
      return request.gpu() == gpu;
    }
    int vram = gpus.get(gpu).vramMb();
    return request.vramMb() == null || vram == 0 || vram >= request.vramMb();
  }

  /** A request for the whole device, or any request on a device of unknown size, takes it whole. */
  boolean exclusive(int gpu, AcquireRequest request) {
    return request.vramMb() == null || gpus.get(gpu).vramMb() == 0;
  }

  boolean fits(int gpu, AcquireRequest request) {
    List<MemoryLease> leases = held.get(gpu);
    if (leases.isEmpty()) {
      return true;
    }
    if (exclusive(gpu, request)) {
      return false;
    }
    int used = 0;
    for (MemoryLease l : leases) {
      if (l.exclusive) {
        return false;
      }
      used += l.vramMb;
    }
    return used + request.vramMb() <= gpus.get(gpu).vramMb();
  }
}
