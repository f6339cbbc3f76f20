"""From a rule's candidate event to a task: evidence into Redis, a JSON payload, the right queue.

The camera process calls :func:`dispatch` for every candidate event. With DashScope keys configured
the payload goes to ``analysis.analyze_event`` (the LLM verifies it and then records the alert);
without keys it goes straight to ``alerts.record_alert`` and the alert says it was not verified.
Tasks carry keys to the evidence images, never the bytes.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import cv2
import numpy as np
from django.conf import settings

from core import tracing
from core.redisclient import get_redis, key
from detection.events import CandidateEvent, FrameTracks

logger = logging.getLogger(__name__)

EVIDENCE_TTL_S = 3600  # long enough for LLM retries with back-off and a worker outage
CROP_MARGIN = 0.15  # share of the group's size added around it, so the crop shows the context


def evidence_key(event_key: str, kind: str) -> str:
    return key("evidence", event_key, kind)


def crop_rect(width: int, height: int, box: tuple[float, float, float, float]) -> tuple[int, int, int, int] | None:
    """Pixel rectangle (left, top, right, bottom) of the group's box with its margin; None if tiny."""
    x1, y1, x2, y2 = box
    mx, my = (x2 - x1) * CROP_MARGIN, (y2 - y1) * CROP_MARGIN
    left, top = max(0, int((x1 - mx) * width)), max(0, int((y1 - my) * height))
    right, bottom = min(width, int((x2 + mx) * width)), min(height, int((y2 + my) * height))
    if right - left < 8 or bottom - top < 8:
        return None
    return left, top, right, bottom


def crop_jpeg(jpeg: bytes, box: tuple[float, float, float, float] | None) -> bytes | None:
    """The traffic group's region of the keyframe, with a margin (None when there is no box)."""
    if not box or not jpeg:
        return None
    image = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return None
    rect = crop_rect(image.shape[1], image.shape[0], box)
    if rect is None:
        return None
    left, top, right, bottom = rect
    ok, buf = cv2.imencode(".jpg", image[top:bottom, left:right], [cv2.IMWRITE_JPEG_QUALITY, 90])
    return bytes(buf) if ok else None


def build_payload(event: CandidateEvent, frame: FrameTracks, jpeg: bytes, session: str) -> dict[str, Any]:
    """Store the evidence and describe the event as JSON for the LLM and alerts tasks."""
    event_key = event.idempotency_key(session)
    box = event.group_box or _union_box(frame, event.track_ids)
    crop = crop_jpeg(jpeg, box)
    pipe = get_redis().pipeline()
    keyframe_key = crop_key = None
    if jpeg:
        keyframe_key = evidence_key(event_key, "keyframe")
        pipe.set(keyframe_key, jpeg, ex=EVIDENCE_TTL_S)
    if crop:
        crop_key = evidence_key(event_key, "crop")
        pipe.set(crop_key, crop, ex=EVIDENCE_TTL_S)
    pipe.execute()
    # Frame times are video seconds for files; the wall clock of the frame anchors them in real time.
    started_wall = frame.wall_time - (frame.ts - event.started_at)
    return {
        "event_key": event_key,
        "camera_id": event.camera_id,
        "event_type": event.event_type,
        "track_ids": list(event.track_ids),
        "started_at": datetime.fromtimestamp(started_wall, tz=UTC).isoformat(),
        "detected_at": datetime.fromtimestamp(frame.wall_time, tz=UTC).isoformat(),
        "video_ts": event.triggered_at,
        "severity": event.severity,
        "measurements": event.measurements,
        "group_box": list(box) if box else None,
        "keyframe_key": keyframe_key,
        "crop_key": crop_key,
        # Boxes of everyone in view: the LLM step blurs faces and plates from them before upload.
        "boxes": [{"track_id": t.track_id, "cls": t.cls, "xyxy": list(t.last.box)} for t in frame.tracks],
    }


def _union_box(frame: FrameTracks, track_ids: tuple[int, ...]) -> tuple[float, float, float, float] | None:
    boxes = [t.last.box for t in frame.tracks if t.track_id in track_ids]
    if not boxes:
        return None
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def llm_enabled() -> bool:
    return bool(settings.DASHSCOPE_API_KEYS)


def dispatch(payload: dict[str, Any]) -> str:
    """Send the candidate on; returns the name of the task it went to."""
    from analysis.metrics import TASKS_GENERATED
    from trafficsite.celery import app

    name = "analysis.analyze_event" if llm_enabled() else "alerts.record_alert"
    # The trace of an event starts here and follows the task headers to the worker and DashScope.
    with tracing.span("camera.event", camera_id=payload["camera_id"], event_type=payload["event_type"],
                      event_key=payload["event_key"]):  # fmt: skip
        app.send_task(name, args=[payload], queue="llm" if name.startswith("analysis.") else "alerts")
    TASKS_GENERATED.labels(name).inc()
    logger.info("camera %s: %s candidate %s -> %s", payload["camera_id"], payload["event_type"],
                payload["event_key"][:12], name)  # fmt: skip
    return name


class DispatchingSink:
    """The camera process's candidate sink: evidence into Redis, payload onto a queue."""

    def __init__(self, session: str) -> None:
        self.session = session

    def __call__(self, event: CandidateEvent, frame: FrameTracks, jpeg: bytes) -> None:
        dispatch(build_payload(event, frame, jpeg, self.session))
