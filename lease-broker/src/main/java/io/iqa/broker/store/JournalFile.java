package io.iqa.broker.store;

import java.io.IOException;

/**
 * The bytes of the memory store's state file, as the store uses them: read whole at start,
 * appended to inside each step, cut back after a failed append, replaced whole by a compaction.
 * {@link io.iqa.broker.store.memory.PathJournalFile} is the file on disk; {@link BytesJournalFile} holds the
 * bytes in memory, for the simulator and tests that make it fail as a full disk does.
 */
public interface JournalFile {

  /** @return whether the file exists (a state file that does not exist yet is a first start) */
  boolean exists();

  /** @return every byte of the file @throws IOException when it cannot be read */
  byte[] read() throws IOException;

  /** @return the file's length now */
  long size() throws IOException;

  /**
   * Appends {@code bytes} at the end; {@code sync}: on the disk before returning. On failure some
   * of them may have been written: the caller cuts the file back with {@link #truncate}.
   */
  void append(byte[] bytes, boolean sync) throws IOException;

  /** Cuts the file back to {@code size} bytes. */
  void truncate(long size) throws IOException;

  /**
   * Replaces the whole file with {@code bytes}, atomically (a temporary file renamed over it): after
   * a failure the file is as it was and no temporary file is left.
   */
  void replace(byte[] bytes, boolean sync) throws IOException;

  /** Moves the file aside under its name plus {@code suffix}, keeping it for the operator. @return where */
  String moveAside(String suffix) throws IOException;

  /** @return the file's name, for messages */
  String describe();

  /** Releases the open file. */
  void close();
}
