package io.iqa.simulator;

import io.iqa.broker.store.BytesJournalFile;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * The memory store's state file as bytes in memory, with the faults a disk has: full for a while
 * (an append writes part of its bytes, then fails, as ENOSPC does), a write torn by a crash, a file
 * emptied or its first line cut (a power loss, a damaged disk). Between broker incarnations it is
 * what survives.
 */
final class SimJournalFile extends BytesJournalFile {

  private final Sim sim;
  private long fullUntil;

  SimJournalFile(Sim sim) {
    super("sim:broker-state.jsonl", null);
    this.sim = sim;
  }

  @Override
  public void append(byte[] more, boolean sync) throws IOException {
    if (sim.now() < fullUntil) {
      appendPart(more, sim.pick(more.length));
      throw new IOException("No space left on device");
    }
    appendPart(more, more.length);
  }

  @Override
  public void replace(byte[] all, boolean sync) throws IOException {
    if (sim.now() < fullUntil) {
      throw new IOException("No space left on device (writing the temporary file)");
    }
    super.replace(all, sync);
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
      byte[] torn = "{\"op\":\"grant\",\"lease\":{\"id\":".getBytes(StandardCharsets.UTF_8);
      appendPart(torn, torn.length);
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
}
