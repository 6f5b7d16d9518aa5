package io.iqa.sidecar.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.jar.Attributes;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The worker's class archive: its name follows every jar it depends on (the manifest's lib/ jars
 * included), so a rebuilt jar never maps a stale archive; class folders turn it off; a training run
 * that ends cleanly makes it ready and deletes older ones, one that was cut short leaves nothing.
 */
class WorkerClassArchiveTest {

  @TempDir
  Path dir;

  private Path jar(String name, String classPath) throws Exception {
    Path p = dir.resolve(name);
    Files.createDirectories(p.getParent());
    Manifest m = new Manifest();
    m.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
    if (classPath != null) {
      m.getMainAttributes().put(Attributes.Name.CLASS_PATH, classPath);
    }
    try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(p), m)) {
      out.flush();
    }
    return p;
  }

  @Test
  void theNameFollowsEveryJarTheArgumentsAndTheJdk() throws Exception {
    Path app = jar("app.jar", "lib/dep.jar");
    Path dep = jar("lib/dep.jar", null);
    List<String> cp = List.of(app.toString());
    String before = WorkerClassArchive.key(cp, List.of());
    assertEquals(before, WorkerClassArchive.key(cp, List.of()), "the same build, the same archive");
    Files.setLastModifiedTime(dep, FileTime.fromMillis(Files.getLastModifiedTime(dep).toMillis() + 5000));
    String depRebuilt = WorkerClassArchive.key(cp, List.of());
    assertNotEquals(before, depRebuilt, "a jar the manifest names was rebuilt");
    Files.setLastModifiedTime(app, FileTime.fromMillis(Files.getLastModifiedTime(app).toMillis() + 5000));
    assertNotEquals(depRebuilt, WorkerClassArchive.key(cp, List.of()), "the application jar was rebuilt");
    assertNotEquals(WorkerClassArchive.key(cp, List.of()), WorkerClassArchive.key(cp, List.of("-Xmx4g")),
        "other JVM arguments");
  }

  @Test
  void classFoldersOrTheSwitchTurnItOff() throws Exception {
    Path classes = Files.createDirectories(dir.resolve("classes"));
    WorkerClassArchive a = WorkerClassArchive.of(dir.resolve("archives"), List.of(classes.toString()), List.of());
    assertTrue(a.health().getString("state").startsWith("off (the classpath has class folders"), a.health().encode());
    assertNull(a.file());
    assertFalse(a.wanted());
    assertEquals(List.of(), a.jvmArgs());
    WorkerClassArchive off = WorkerClassArchive.of(null, List.of(jar("app.jar", null).toString()), List.of());
    assertEquals("off (worker.class_archive is false)", off.health().getString("state"));
  }

  @Test
  void aCleanTrainingRunMakesItReadyAndDeletesOlderOnes() throws Exception {
    Path archives = dir.resolve("archives");
    Files.createDirectories(archives);
    Path older = Files.writeString(archives.resolve("worker-0000000000000000.jsa"), "old");
    WorkerClassArchive a = WorkerClassArchive.of(archives, List.of(jar("app.jar", null).toString()), List.of());
    assertEquals("missing", a.health().getString("state"));
    assertTrue(a.wanted());
    assertEquals(List.of(), a.jvmArgs(), "nothing to map yet");

    WorkerClassArchive.Making cut = a.begin();
    assertEquals("making", a.health().getString("state"));
    assertNull(a.begin(), "one training run at a time");
    Files.writeString(cut.tmp, "half");
    cut.end(137, "a worker started");
    assertFalse(Files.exists(cut.tmp), "a run cut short leaves nothing");
    assertEquals("missing", a.health().getString("state"), "tried again later");

    WorkerClassArchive.Making clean = a.begin();
    Files.writeString(clean.tmp, "archive");
    clean.end(0, null);
    assertEquals("ready", a.health().getString("state"));
    assertEquals(List.of("-XX:SharedArchiveFile=" + a.file(), "-Xshare:auto"), a.jvmArgs());
    assertEquals("archive", Files.readString(a.file()));
    assertFalse(Files.exists(older), "an archive of another build is deleted");
    assertFalse(a.wanted());

    WorkerClassArchive again = WorkerClassArchive.of(archives, List.of(dir.resolve("app.jar").toString()), List.of());
    assertEquals("ready", again.health().getString("state"), "the next start finds it");
  }

  @Test
  void aTrainingRunThatFailsSaysWhyAndIsNotRetriedForEver() throws Exception {
    WorkerClassArchive a = WorkerClassArchive.of(dir.resolve("archives"), List.of(jar("app.jar", null).toString()),
        List.of());
    WorkerClassArchive.Making m = a.begin();
    m.end(2, null);
    assertEquals("failed (the training worker exited with code 2)", a.health().getString("state"));
    assertFalse(a.wanted());
    assertEquals(List.of(), a.jvmArgs());
  }
}
