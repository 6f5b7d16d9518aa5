package io.iqa.sidecar.service;

import io.iqa.protocol.wire.ErrorCode;
import io.iqa.server.HttpError;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SecureDirectoryStream;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributeView;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code {"path": ...}} requests: reads a file that lies inside one of {@code allowed_roots}. It
 * walks from the root down, opening each component relative to the one above without following a
 * symbolic link (openat with O_NOFOLLOW, through {@link SecureDirectoryStream}), so a link swapped
 * in at any moment cannot lead outside the root. Everything outside the roots, existing or not, or
 * behind a link, gets the same 403 without the path in it (no file-existence oracle); an invalid
 * path (a NUL, not absolute) is 400.
 */
final class PathInput {

  private static final Logger LOG = LoggerFactory.getLogger(PathInput.class);
  private static final HttpError OUTSIDE = new HttpError(ErrorCode.FORBIDDEN,
      "the path is not inside allowed_roots (symbolic links are not followed below a root)");

  private record Root(Path configured, Path real) {
  }

  private final List<Root> roots = new ArrayList<>();
  private final long maxBytes;

  PathInput(List<Path> allowed, long maxBytes) {
    this.maxBytes = maxBytes;
    for (Path r : allowed) {
      try {
        roots.add(new Root(r.normalize(), r.toRealPath()));
      } catch (IOException e) {
        LOG.warn("allowed_roots entry {} is not usable ({}); path requests under it are refused", r, e.getMessage());
      }
    }
  }

  boolean enabled() {
    return !roots.isEmpty();
  }

  /** Blocking: call it on a worker. @throws HttpError 400, 403, 404 or 413 */
  byte[] read(String requested) throws IOException {
    if (requested == null || requested.isBlank()) {
      throw HttpError.badRequest("body must be {\"path\": \"/absolute/path\"}");
    }
    if (requested.indexOf('\0') >= 0) {
      throw HttpError.badRequest("the path must not contain a NUL character");
    }
    Path p;
    try {
      p = Path.of(requested);
    } catch (InvalidPathException e) {
      throw HttpError.badRequest("not a valid path");
    }
    if (!p.isAbsolute()) {
      throw HttpError.badRequest("the path must be absolute");
    }
    Path normal = p.normalize();
    for (Root root : roots) {
      for (Path base : List.of(root.configured(), root.real())) {
        if (normal.startsWith(base) && !normal.equals(base)) {
          return readBelow(root.real(), base.relativize(normal));
        }
      }
    }
    throw OUTSIDE;
  }

  private byte[] readBelow(Path realRoot, Path relative) throws IOException {
    DirectoryStream<Path> top = Files.newDirectoryStream(realRoot);
    if (!(top instanceof SecureDirectoryStream<Path> dir)) {
      top.close();
      throw new HttpError(ErrorCode.UNAVAILABLE, "this file system cannot open paths without following links");
    }
    List<SecureDirectoryStream<Path>> opened = new ArrayList<>(List.of(dir));
    try {
      SecureDirectoryStream<Path> at = dir;
      for (int i = 0; i < relative.getNameCount() - 1; i++) {
        at = at.newDirectoryStream(relative.getName(i), LinkOption.NOFOLLOW_LINKS);
        opened.add(at);
      }
      Path name = relative.getFileName();
      BasicFileAttributes attrs = at.getFileAttributeView(name, BasicFileAttributeView.class,
          LinkOption.NOFOLLOW_LINKS).readAttributes();
      if (attrs.isSymbolicLink()) {
        throw OUTSIDE;
      }
      if (!attrs.isRegularFile()) {
        throw HttpError.badRequest("not a regular file");
      }
      if (attrs.size() > maxBytes) {
        throw new HttpError(ErrorCode.TOO_LARGE, "the file is " + attrs.size() + " bytes; max_image_bytes is " + maxBytes);
      }
      try (SeekableByteChannel ch = at.newByteChannel(name, Set.of(StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS))) {
        return readAll(ch);
      }
    } catch (NoSuchFileException e) {
      throw new HttpError(ErrorCode.NOT_FOUND, "no such file under allowed_roots");
    } catch (FileSystemException e) {
      // ELOOP (a link where a directory or the file was expected), ENOTDIR, EACCES: not ours to read.
      throw OUTSIDE;
    } finally {
      for (SecureDirectoryStream<Path> s : opened) {
        s.close();
      }
    }
  }

  private byte[] readAll(SeekableByteChannel ch) throws IOException {
    ByteBuffer buf = ByteBuffer.allocate((int) Math.min(maxBytes + 1, Math.max(1, ch.size()) + 1));
    while (ch.read(buf) > 0) {
      if (!buf.hasRemaining()) {
        if (buf.capacity() > maxBytes) {
          throw new HttpError(ErrorCode.TOO_LARGE, "the file is larger than max_image_bytes=" + maxBytes);
        }
        ByteBuffer bigger = ByteBuffer.allocate((int) Math.min(maxBytes + 1, buf.capacity() * 2L));
        buf.flip();
        bigger.put(buf);
        buf = bigger;
      }
    }
    byte[] out = new byte[buf.position()];
    buf.flip();
    buf.get(out);
    return out;
  }
}
