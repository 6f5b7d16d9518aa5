package io.iqa.protocol;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * SHA-256, the one hash of the project: image identity (cache keys, {@code sha256} in answers),
 * token storage (the broker and the sidecar keep only a token's hash), model fingerprints.
 */
public final class Sha256 {

  private Sha256() {
  }

  /** @return a new digest, for hashing a stream as it arrives */
  public static MessageDigest digest() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is part of every JRE", e);
    }
  }

  /** @return the hash of {@code bytes}, 64 lowercase hex digits */
  public static String hex(byte[] bytes) {
    return HexFormat.of().formatHex(digest().digest(bytes));
  }

  /** @return the hash of {@code text} as UTF-8, 64 lowercase hex digits */
  public static String hex(String text) {
    return hex(text.getBytes(StandardCharsets.UTF_8));
  }

  /** @return the raw 32-byte hash of {@code text} as UTF-8 */
  public static byte[] of(String text) {
    return digest().digest(text.getBytes(StandardCharsets.UTF_8));
  }
}
