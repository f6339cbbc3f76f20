"""Candidate events as the capture process hands them to the alerts queue (evidence in real Redis)."""

from __future__ import annotations

import time
from collections import deque
from functools import cache
from itertools import count
from typing import Any

import cv2

from cameras.payload import EventPayload
from detection.assets import CLIP_CARS_TRUCK, asset_path
from detection.capture import dispatch as candidates
from detection.events import CameraContext, CandidateEvent, FrameTracks
from detection.tracking import Track, TrackPoint

_sessions = count(1)


@cache
def intersection_frame() -> bytes:
    """A real frame of the intersection clip (800x600): what a keyframe looks like."""
    capture = cv2.VideoCapture(str(asset_path(CLIP_CARS_TRUCK)))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 30)
    ok, image = capture.read()
    capture.release()
    assert ok, "could not read the intersection clip (manage.py fetch_assets)"
    return bytes(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])[1])


def event_payload(
    camera_id: int,
    *,
    event_type: str = "near_miss",
    severity: int = 3,
    measurements: dict[str, Any] | None = None,
    session: str | None = None,
) -> EventPayload:
    """The payload of ``alerts.record_alert`` for one event; a new session gives a new event key."""
    car = Track(7, "car", deque([TrackPoint(10.0, (0.30, 0.40, 0.55, 0.70), 0.9)]))
    person = Track(8, "person", deque([TrackPoint(10.0, (0.56, 0.45, 0.62, 0.72), 0.8)]))
    context = CameraContext(camera_id, 50.0, [], {}, None)
    frame = FrameTracks(context, 100, 10.0, time.time(), (800, 600), [car, person], [])
    event = CandidateEvent(
        camera_id,
        event_type,
        (7, 8),
        started_at=9.6,
        triggered_at=10.0,
        measurements=measurements if measurements is not None else {"ttc_s": 0.9, "distance_m": 2.1, "speed_kmh": 38.4},
        severity=severity,
    )
    return candidates.build_payload(event, frame, intersection_frame(), session or f"alerts-test-{next(_sessions)}")
