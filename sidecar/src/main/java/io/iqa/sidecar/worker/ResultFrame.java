package io.iqa.sidecar.worker;

import io.iqa.protocol.wire.ErrorCode;
import io.iqa.protocol.wire.WireJson;
import io.iqa.server.HttpError;
import io.iqa.sidecar.image.ImageDecodeException;
import io.iqa.sidecar.model.Score;
import io.vertx.core.json.JsonObject;

/**
 * A {@link Frame.Type#RESULT}: what one model made of one job's image. Its header carries the
 * score ({@code value}, {@code std}, and the image's {@code decode_ns} and {@code wait_ns} for the
 * front's stage metrics), {@code hand_back} for an image the stopping worker did not start, or the
 * {@code error} the front answers with ({@code status}, {@code code}, {@code message}).
 */
final class ResultFrame {

  /** Thrown into the promises of images not started when the worker stops: the front re-queues them. */
  static final class HandBack extends RuntimeException {
    HandBack() {
      super("handed back: the worker is stopping", null, false, false);
    }
  }

  /** Each image's time in the decoder and waiting for its batch, for the front's stage metrics. */
  record Times(long decodeNanos, long waitNanos) {
  }

  private ResultFrame() {
  }

  static Frame of(long id, String model, Score score, Throwable error, Times times) {
    JsonObject r = new JsonObject().put("id", id).put("model", model);
    if (error == null) {
      r.put("value", score.value()).put("std", score.std());
      if (times != null) {
        r.put("decode_ns", times.decodeNanos()).put("wait_ns", times.waitNanos());
      }
    } else if (error instanceof HandBack) {
      r.put("hand_back", true);
    } else {
      HttpError.Refusal refused = error instanceof HttpError he ? he.refusal()
          : error instanceof ImageDecodeException de
              ? new HttpError.Refusal(de.errorCode().status(), de.errorCode(), de.getMessage(), null)
              : new HttpError.Refusal(500, ErrorCode.MODEL_FAILED, model + " failed: " + error, null);
      r.put("error", new JsonObject(WireJson.toMap(refused)));
    }
    return Frame.of(Frame.Type.RESULT, r);
  }
}
