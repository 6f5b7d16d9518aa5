package io.iqa.broker.store;

import java.io.IOException;
import java.util.Arrays;

/**
 * A state file held as bytes in memory, for the simulator's disk and the tests' faulty disks: they
 * override {@link #append} and {@link #replace} to fail as a full disk does. It survives nothing but
 * the object itself, so a broker never uses one.
 */
public class BytesJournalFile implements JournalFile {

  private final String name;
  /** The file's bytes; null while there is no file. */
  protected byte[] bytes;

  /** @param initial the file's bytes, or null for no file yet */
  public BytesJournalFile(String name, byte[] initial) {
    this.name = name;
    this.bytes = initial;
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
    appendPart(more, more.length);
  }

  /** Appends the first {@code n} bytes of {@code more}: all of it, or the part a failing write left. */
  protected final void appendPart(byte[] more, int n) {
    byte[] base = bytes == null ? new byte[0] : bytes;
    byte[] out = Arrays.copyOf(base, base.length + n);
    System.arraycopy(more, 0, out, base.length, n);
    bytes = out;
  }

  @Override
  public void truncate(long size) {
    bytes = Arrays.copyOf(bytes, (int) size);
  }

  @Override
  public void replace(byte[] all, boolean sync) throws IOException {
    bytes = all.clone();
  }

  /** Keeps nothing: the file is gone. */
  @Override
  public String moveAside(String suffix) {
    bytes = null;
    return name + suffix;
  }

  @Override
  public String describe() {
    return name;
  }

  @Override
  public void close() {
    // nothing is open
  }
}
