package io.iqa.simulator;

/**
 * Faults the simulator must find, put back by a test switch (none of them is a code path of the
 * project): the old deadline rule (a grant's deadline counted from the request's send time, what
 * the broker held it not counted), the old restore rule (a restarted broker trusting the wall-clock
 * expiry its state file holds), and a launch race (a stop that comes before the worker's process
 * exists finds nothing to stop and reports the worker gone; the launch goes on).
 */
record Faults(boolean oldDeadlineRule, boolean oldRestoreRule, boolean launchRace) {

  static final Faults NONE = new Faults(false, false, false);

  boolean any() {
    return oldDeadlineRule || oldRestoreRule || launchRace;
  }
}
