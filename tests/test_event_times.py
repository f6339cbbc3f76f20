"""A candidate event from a live stream: its start is never after the frame that reported it."""

from __future__ import annotations

import time
from collections import deque
from datetime import datetime

import pytest

from alerts.models import Alert
from alerts.record import record_alert
from detection.capture.dispatch import build_payload
from detection.events import CameraContext, CandidateEvent, FrameTracks
from detection.tracking import Track, TrackPoint
from tests.factories import make_camera
from tests.support.alert_events import intersection_frame

pytestmark = pytest.mark.django_db


def test_a_rule_met_on_the_reporting_frame_of_a_stream_gives_an_alert() -> None:
    """Rules round started_at to the millisecond; on wall-clock frame times that can land after the
    frame itself, which the alert's check constraint refused (the event was lost)."""
    camera = make_camera()
    now = time.time()
    ts = float(int(now)) + 0.1226  # rounds up to .123: 0.4 ms after the frame
    car = Track(3, "car", deque([TrackPoint(ts, (0.3, 0.4, 0.5, 0.6), 0.9)]))
    frame = FrameTracks(CameraContext(camera.pk, 50.0, [], {}, None), 7, ts, ts, (800, 600), [car], [])
    event = CandidateEvent(camera.pk, "near_miss", (3,), started_at=round(ts, 3), triggered_at=ts,
                           measurements={"ttc_s": 0.8}, severity=3)  # fmt: skip
    payload = build_payload(event, frame, intersection_frame(), "stream-session")
    assert datetime.fromisoformat(payload["started_at"]) <= datetime.fromisoformat(payload["detected_at"])
    alert, created = record_alert(payload)
    assert created and Alert.objects.filter(pk=alert.pk).exists()
