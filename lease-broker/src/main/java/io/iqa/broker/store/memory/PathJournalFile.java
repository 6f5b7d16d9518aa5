package io.iqa.broker.store.memory;

import io.iqa.broker.store.JournalFile;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;

/** The state file on disk, readable by its owner only (it holds token hashes). */
public final class PathJournalFile implements JournalFile {

  private final Path file;
  private FileChannel channel;

  public PathJournalFile(Path file) {
    this.file = file.toAbsolutePath();
  }

  @Override
  public boolean exists() {
    return Files.exists(file);
  }

  @Override
  public byte[] read() throws IOException {
    return Files.readAllBytes(file);
  }

  @Override
  public long size() throws IOException {
    return channel().size();
  }

  @Override
  public void append(byte[] bytes, boolean sync) throws IOException {
    FileChannel out = channel();
    ByteBuffer buf = ByteBuffer.wrap(bytes);
    while (buf.hasRemaining()) {
      out.write(buf);
    }
    if (sync) {
      out.force(false);
    }
  }

  @Override
  public void truncate(long size) throws IOException {
    channel().truncate(size);
  }

  @Override
  public void replace(byte[] bytes, boolean sync) throws IOException {
    Path dir = file.getParent();
    Files.createDirectories(dir);
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    try {
      try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
          StandardOpenOption.TRUNCATE_EXISTING)) {
        ByteBuffer buf = ByteBuffer.wrap(bytes);
        while (buf.hasRemaining()) {
          out.write(buf);
        }
        if (sync) {
          out.force(true);
        }
      }
      ownerOnly(tmp);
      try {
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
      }
    } catch (IOException | RuntimeException e) {
      try {
        Files.deleteIfExists(tmp);
      } catch (IOException ignored) {
        // the first error is the one to report
      }
      throw e;
    }
    if (sync) {
      syncDirectory(dir);
    }
    close();
  }

  @Override
  public String moveAside(String suffix) throws IOException {
    Path aside = file.resolveSibling(file.getFileName() + suffix);
    Files.move(file, aside, StandardCopyOption.REPLACE_EXISTING);
    return aside.toString();
  }

  @Override
  public String describe() {
    return file.toString();
  }

  @Override
  public void close() {
    if (channel != null) {
      try {
        channel.close();
      } catch (IOException ignored) {
        // closing
      }
      channel = null;
    }
  }

  private FileChannel channel() throws IOException {
    if (channel == null) {
      Files.createDirectories(file.getParent());
      channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
      ownerOnly(file);
    }
    return channel;
  }

  /** A rename reaches the disk with its directory's entry: fsync the directory too. */
  private static void syncDirectory(Path dir) {
    try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
      d.force(true);
    } catch (IOException | RuntimeException ignored) {
      // not every file system lets a directory be synced
    }
  }

  private static void ownerOnly(Path p) {
    try {
      Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rw-------"));
    } catch (UnsupportedOperationException | IOException ignored) {
      // not a POSIX file system: keep its defaults
    }
  }
}
