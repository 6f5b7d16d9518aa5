package io.iqa.simulator;

import io.iqa.broker.store.JournalFile;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * The memory store's state file as bytes in memory, with the faults a disk has: full for a while
 * (an append writes part of its bytes, then fails, as ENOSPC does), a write torn by a crash, a file
 * emptied or its first line cut (a power loss, a damaged disk). Between broker incarnations it is
 * what survives.
 */
final class SimJournalFile implements JournalFile {

  private final Sim sim;
  private byte[] bytes;
  private long fullUntil;

  SimJournalFile(Sim sim) {
    this.sim = sim;
  }

  @Override
  public boolean exists() {
    return bytes != null;
  }

  @Override
  public byte[] read() {
    return bytes.clone();
  }

  @Override
  public long size() {
    return bytes == null ? 0 : bytes.length;
  }

  @Override
  public void append(byte[] more, boolean sync) throws IOException {
    byte[] base = bytes == null ? new byte[0] : bytes;
    if (sim.now() < fullUntil) {
      int part = sim.pick(more.length);
      bytes = concat(base, Arrays.copyOf(more, part));
      throw new IOException("No space left on device");
    }
    bytes = concat(base, more);
  }

  @Override
  public void truncate(long size) {
    bytes = Arrays.copyOf(bytes, (int) size);
  }

  @Override
  public void replace(byte[] all, boolean sync) throws IOException {
    if (sim.now() < fullUntil) {
      throw new IOException("No space left on device (writing the temporary file)");
    }
    bytes = all.clone();
  }

  @Override
  public String moveAside(String suffix) {
    bytes = null;
    return "broker-state.jsonl" + suffix;
  }

  @Override
  public String describe() {
    return "sim:broker-state.jsonl";
  }

  @Override
  public void close() {
  }

  /** The disk is full for {@code nanos}. */
  void fillFor(long nanos) {
    fullUntil = sim.now() + nanos;
  }

  /** @return whether the disk is full now (no change can be recorded, so none is made) */
  boolean full() {
    return sim.now() < fullUntil;
  }

  /** A crash in the middle of an append: a part of a record is left at the end. */
  void tornWrite() {
    if (bytes != null) {
      bytes = concat(bytes, "{\"op\":\"grant\",\"lease\":{\"id\":".getBytes(StandardCharsets.UTF_8));
    }
  }

  /** A power loss before anything reached the disk, or a damaged file: empty, or its snapshot cut. */
  void lose(boolean empty) {
    if (bytes == null) {
      return;
    }
    if (empty) {
      bytes = new byte[0];
      return;
    }
    String text = new String(bytes, StandardCharsets.UTF_8);
    int nl = text.indexOf('\n');
    bytes = ((nl > 0 ? text.substring(0, nl / 2) : "") + (nl > 0 ? text.substring(nl) : ""))
        .getBytes(StandardCharsets.UTF_8);
  }

  private static byte[] concat(byte[] a, byte[] b) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(a.length + b.length);
    out.writeBytes(a);
    out.writeBytes(b);
    return out.toByteArray();
  }
}
