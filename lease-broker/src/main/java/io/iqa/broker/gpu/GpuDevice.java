package io.iqa.broker.gpu;

import io.iqa.protocol.config.Range;
import io.iqa.protocol.config.Required;

/**
 * One arbitrated device: an entry of the broker's {@code gpus} list, or one nvidia-smi found.
 * {@code vramMb} 0 means its size is unknown: only whole-device leases.
 */
public record GpuDevice(@Required @Range(min = 0, max = 1024) int index,
    @Range(min = 0, max = 16 * 1024 * 1024) int vramMb) {
}
