"""From a rule's candidate event to the next stage: evidence into Redis, a typed payload, a task.

Runs in the camera process: :class:`DispatchingSink` is its candidate sink. With DashScope keys
configured the payload goes to ``analysis.analyze_event`` (the LLM verifies it, then records the
alert); without keys it goes straight to ``alerts.record_alert`` and the alert says it was not
verified. Tasks are sent by their route (core/topology.py), so this module imports neither app, and
they carry keys to the evidence images, never the bytes.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import cv2
import numpy as np
from django.conf import settings

from cameras.boxes import NormBox, crop_rect, union_box
from cameras.payload import BoxInView, EventPayload, StripFrame, TrackFrame
from core import tracing
from core.redisclient import get_redis, key
from core.taskbase import send
from core.topology import ANALYZE_EVENT, RECORD_ALERT, Route
from detection.capture.strip import FrameHistory, PastFrame
from detection.events import CandidateEvent, FrameTracks
from detection.metrics import TASKS_GENERATED

logger = logging.getLogger(__name__)

EVIDENCE_TTL_S = 3600  # long enough for LLM retries with back-off and a worker outage


def evidence_key(event_key: str, kind: str) -> str:
    return key("evidence", event_key, kind)


def crop_jpeg(jpeg: bytes, box: NormBox | None) -> bytes | None:
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


def build_payload(event: CandidateEvent, frame: FrameTracks, jpeg: bytes, session: str,
                  strip: list[PastFrame] | None = None,
                  track: list[TrackFrame] | None = None) -> EventPayload:  # fmt: skip
    """Store the evidence and describe the event as JSON for the LLM and alerts tasks."""
    event_key = event.idempotency_key(session)
    box = event.group_box or union_box(t.last.box for t in frame.tracks if t.track_id in event.track_ids)
    crop = crop_jpeg(jpeg, box)
    pipe = get_redis().pipeline()
    keyframe_key = crop_key = None
    if jpeg:
        keyframe_key = evidence_key(event_key, "keyframe")
        pipe.set(keyframe_key, jpeg, ex=EVIDENCE_TTL_S)
    if crop:
        crop_key = evidence_key(event_key, "crop")
        pipe.set(crop_key, crop, ex=EVIDENCE_TTL_S)
    strip_frames: list[StripFrame] = []
    for index, past in enumerate(strip or []):
        name = evidence_key(event_key, f"strip{index}")
        pipe.set(name, past.jpeg, ex=EVIDENCE_TTL_S)
        strip_frames.append({"key": name, "offset_s": round(past.ts - frame.ts, 3), "boxes": past.pixelate})
    pipe.execute()
    # Frame times are video seconds for files; the wall clock of the frame anchors them in real time.
    # Never after the frame itself: rules round started_at to the millisecond, which on a stream's
    # wall-clock timestamps can land just after the frame that met the rule (the alert's check
    # constraint, detected_at >= event_started_at, then refused the row and the event was lost).
    started_wall = min(frame.wall_time, frame.wall_time - (frame.ts - event.started_at))
    boxes: list[BoxInView] = [{"track_id": t.track_id, "cls": t.cls, "xyxy": list(t.last.box)} for t in frame.tracks]
    boxes += frame.private  # the privacy pass's people and vehicles, whatever the camera tracks
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
        # Boxes of everyone in view (tracked, and the privacy pass's): the LLM step pixelates faces and
        # plates from them before upload.
        "boxes": boxes,
        "strip": strip_frames,
        "track": track or [],
    }


def llm_enabled() -> bool:
    return bool(settings.DASHSCOPE_API_KEYS)


def next_stage() -> Route:
    """The LLM when keys are configured, otherwise the alert straight away (rules only)."""
    return ANALYZE_EVENT if llm_enabled() else RECORD_ALERT


def dispatch(payload: EventPayload) -> str:
    """Send the candidate on; returns the name of the task it went to."""
    route = next_stage()
    # The trace of an event starts here and follows the task headers to the worker and DashScope.
    with tracing.span("camera.event", camera_id=payload["camera_id"], event_type=payload["event_type"],
                      event_key=payload["event_key"]):  # fmt: skip
        send(route, payload)
    TASKS_GENERATED.labels(route.name).inc()
    logger.info("camera %s: %s candidate %s -> %s", payload["camera_id"], payload["event_type"],
                payload["event_key"][:12], route.name)  # fmt: skip
    return route.name


class DispatchingSink:
    """The camera process's candidate sink: evidence into Redis, payload onto a queue."""

    def __init__(self, session: str, history: FrameHistory | None = None) -> None:
        self.session = session
        self.history = history

    def __call__(self, event: CandidateEvent, frame: FrameTracks, jpeg: bytes) -> None:
        if self.history is None:
            dispatch(build_payload(event, frame, jpeg, self.session))
            return
        strip = self.history.pick(event.started_at, event.triggered_at)
        dispatch(build_payload(event, frame, jpeg, self.session, strip, self.history.track(event.triggered_at)))
