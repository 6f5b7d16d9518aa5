package io.iqa.broker.store;

/** Release outcome: {@code released} true the first time; false with the end reason after that. */
public record ReleaseResult(boolean released, EndReason reason) {
}
