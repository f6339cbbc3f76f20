"""The detect jobs as plain functions (the ``detection.detect_frame`` and ``detection.detect_frames``
tasks run them): frame keys in, results out on the camera's reply list, one per frame."""

from __future__ import annotations

import logging
import time
from typing import Any, NotRequired, TypedDict

from detection import framestore
from detection.detector import FrameError, decode_frame, detect
from detection.farfield import Tile
from detection.metrics import DETECT_LATENCY, DETECT_TOTAL, DETECTIONS

logger = logging.getLogger(__name__)


class BatchFrame(TypedDict):
    """One frame of a ``detect_frames`` task: what ``detect_frame`` takes per frame."""

    seq: int
    frame_key: str
    size: list[int] | None
    tile: NotRequired[list[float]]  # the camera's far-field tile (detection/farfield.py), when it has one


def run_detect_job(
    *,
    camera_id: int,
    seq: int,
    frame_key: str,
    reply_key: str,
    confidence: float,
    classes: list[str],
    size: list[int] | None = None,
    tile: list[float] | None = None,
) -> dict[str, Any]:
    """Detect objects on one stored frame and push the result for the camera process.

    A bad frame is not an exception: the camera gets ``error`` with the reason and carries on, and
    there is nothing to retry or replay (the frame is gone or garbage). ``size`` is the camera's
    frame size when the camera process sent a shrunk frame (boxes are normalized, so only the
    reported size needs it). ``tile`` is the camera's far field, detected a second time, enlarged.
    """
    started = time.perf_counter()
    result = detect_one(camera_id, seq, framestore.take_frame(frame_key), confidence, classes, size, started, tile)
    framestore.push_results(reply_key, [result])
    return result


def run_detect_batch(
    *, camera_id: int, frames: list[BatchFrame], reply_key: str, confidence: float, classes: list[str]
) -> list[dict[str, Any]]:
    """Several frames of one camera, in the order given, as ``run_detect_job`` does each.

    The camera process sends them together when its worker is behind (detection/capture/camera.py):
    one task, one Redis round trip for the frames and one for the results, instead of one of each per
    frame. Each frame still gets its own result (boxes, or ``error`` for a bad frame, which does
    not stop the frames after it); ``task_ms`` of each counts from the start of the batch.
    """
    started = time.perf_counter()
    payloads = framestore.take_frames([frame["frame_key"] for frame in frames])
    results = [
        detect_one(camera_id, frame["seq"], data, confidence, classes, frame.get("size"), started, frame.get("tile"))
        for frame, data in zip(frames, payloads, strict=True)
    ]
    framestore.push_results(reply_key, results)
    return results


def detect_one(
    camera_id: int,
    seq: int,
    data: bytes | None,
    confidence: float,
    classes: list[str],
    size: list[int] | None,
    started: float,
    tile: list[float] | None = None,
) -> dict[str, Any]:
    """The result of one frame's stored bytes: its boxes, or ``error`` with the reason."""
    result: dict[str, Any] = {"seq": seq}
    try:
        detection = detect(decode_frame(data), confidence=confidence, classes=classes, tile=_tile(camera_id, tile))
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
    return result


def _tile(camera_id: int, raw: list[float] | None) -> Tile | None:
    """The task's far-field tile; a malformed one (a camera process of another version) is logged and
    the frame detected without it, rather than lost."""
    if raw is None:
        return None
    try:
        return Tile.from_list(raw)
    except (TypeError, ValueError) as exc:
        logger.warning("camera %s: far-field tile ignored: %s", camera_id, exc)
        return None
