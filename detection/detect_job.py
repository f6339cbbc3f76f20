"""The detect job as a plain function (the ``detection.detect_frame`` task runs it): frame key in,
ordered result out on the camera's reply list."""

from __future__ import annotations

import logging
import time
from typing import Any

from detection import framestore
from detection.detector import FrameError, decode_frame, detect
from detection.metrics import DETECT_LATENCY, DETECT_TOTAL, DETECTIONS

logger = logging.getLogger(__name__)


def run_detect_job(
    *,
    camera_id: int,
    seq: int,
    frame_key: str,
    reply_key: str,
    confidence: float,
    classes: list[str],
    size: list[int] | None = None,
) -> dict[str, Any]:
    """Detect objects on one stored frame and push the result for the camera process.

    A bad frame is not an exception: the camera gets ``error`` with the reason and carries on, and
    there is nothing to retry or replay (the frame is gone or garbage). ``size`` is the camera's
    frame size when the camera process sent a shrunk frame (boxes are normalized, so only the
    reported size needs it).
    """
    started = time.perf_counter()
    result: dict[str, Any] = {"seq": seq}
    try:
        image = decode_frame(framestore.take_frame(frame_key))
        detection = detect(image, confidence=confidence, classes=classes)
    except FrameError as exc:
        DETECT_TOTAL.labels("bad_frame").inc()
        logger.warning("camera %s frame %s: %s", camera_id, seq, exc)
        result["error"] = str(exc)
    else:
        DETECT_TOTAL.labels("ok").inc()
        DETECT_LATENCY.observe(detection.inference_ms / 1000)
        for box in detection.boxes:
            DETECTIONS.labels(box.cls).inc()
        result.update(
            boxes=[box.to_json() for box in detection.boxes],
            # People and vehicles whatever the camera's classes: pixelated before any upload, never tracked.
            private=[box.to_json() for box in detection.private],
            size=size or [detection.width, detection.height],
            inference_ms=round(detection.inference_ms, 2),
        )
    result["task_ms"] = round((time.perf_counter() - started) * 1000, 2)
    framestore.push_result(reply_key, result)
    return result
