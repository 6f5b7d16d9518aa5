package io.iqa.broker.gpu;

/**
 * One arbitrated device. {@code vramMb} 0 means its size is unknown: only whole-device leases.
 */
public record GpuDevice(int index, int vramMb) {
}
