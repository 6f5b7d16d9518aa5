package io.iqa.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.iqa.testkit.LeaseHistoryChecker.Grant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The checker must catch what it claims to catch, or a green concurrency run proves nothing. */
class LeaseHistoryCheckerTest {

  private final LeaseHistoryChecker checker = new LeaseHistoryChecker(Map.of(0, 0, 1, 4000));

  @Test
  void acceptsASoundHistory() {
    assertEquals(List.of(), checker.check(List.of(
        new Grant(1, 0, 0, true, 0, 10, 20, "a"),
        new Grant(4, 0, 0, true, 15, 20, 30, "b"),
        new Grant(2, 1, 2000, false, 0, 10, 50, "c"),
        new Grant(3, 1, 2000, false, 5, 12, 40, "d"))));
  }

  @Test
  void reportsOverlappingWholeDeviceLeasesByName() {
    List<String> problems = checker.check(List.of(
        new Grant(1, 0, 0, true, 0, 10, 30, "a"),
        new Grant(2, 0, 0, true, 5, 20, 40, "b")));
    assertEquals(1, problems.size(), problems.toString());
    assertTrue(problems.get(0).contains("lease 2 (b") && problems.get(0).contains("lease 1 (a"), problems.get(0));
  }

  @Test
  void reportsVramOverCapacityDuplicateIdsAndIdsGoingBackwards() {
    List<String> problems = checker.check(List.of(
        new Grant(5, 1, 3000, false, 0, 10, 50, "a"),
        new Grant(6, 1, 2000, false, 0, 11, 50, "b"),
        new Grant(6, 0, 0, true, 0, 12, 13, "c"),
        new Grant(3, 0, 0, true, 60, 70, 80, "d")));
    assertTrue(problems.stream().anyMatch(p -> p.contains("5000 MB held at once")), problems.toString());
    assertTrue(problems.stream().anyMatch(p -> p.contains("lease_id 6 was granted twice")), problems.toString());
    assertTrue(problems.stream().anyMatch(p -> p.contains("lease_id 3 (d) was requested after")), problems.toString());
  }
}
