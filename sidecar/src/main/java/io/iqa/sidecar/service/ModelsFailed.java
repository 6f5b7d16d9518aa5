package io.iqa.sidecar.service;

/**
 * The worker ran and its models did not load (its FAILED frame, or not within the start timeout):
 * {@code models_unavailable}. A worker that could not start or died while loading fails its {@link
 * WorkerProcess#ready()} otherwise, and its {@link WorkerProcess#exited()} tells the rest ({@code
 * worker_failed}).
 */
final class ModelsFailed extends RuntimeException {

  ModelsFailed(String message) {
    super(message, null, false, false);
  }
}
