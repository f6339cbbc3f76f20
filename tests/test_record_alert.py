"""Candidate events become alerts once, with their evidence, through the real alerts worker."""

from __future__ import annotations

import time
from collections import deque

import pytest

from alerts.models import Alert
from detection.assets import bundled_image
from detection.capture import dispatch as candidates
from detection.capture.dispatch import DispatchingSink
from detection.events import CameraContext, CandidateEvent, FrameTracks
from detection.tracking import Track, TrackPoint
from tests.factories import make_camera
from tests.support.waiting import wait_for
from tests.workers import WorkerProcess

pytestmark = pytest.mark.django_db(transaction=True)


def frame_with_event(camera_id: int) -> tuple[CandidateEvent, FrameTracks]:
    car = Track(7, "car", deque([TrackPoint(10.0, (0.1, 0.2, 0.6, 0.8), 0.9)]))
    person = Track(8, "person", deque([TrackPoint(10.0, (0.6, 0.3, 0.7, 0.8), 0.8)]))
    context = CameraContext(camera_id, 50.0, [], {}, None)
    frame = FrameTracks(context, 100, 10.0, time.time(), (810, 1080), [car, person], [])
    event = CandidateEvent(camera_id, "near_miss", (7, 8), started_at=9.6, triggered_at=10.0,
                           measurements={"ttc_s": 0.9, "distance_m": 2.1}, severity=3)  # fmt: skip
    return event, frame


@pytest.mark.slow
def test_without_an_llm_a_candidate_becomes_an_unverified_alert_with_its_evidence(
    celery_worker: WorkerProcess, settings
) -> None:
    settings.DASHSCOPE_API_KEYS = []
    camera = make_camera()
    event, frame = frame_with_event(camera.pk)
    DispatchingSink(session="s1")(event, frame, bundled_image().read_bytes())
    alert = wait_for(lambda: Alert.objects.filter(camera=camera).first())
    assert (alert.event_type, alert.verification, alert.severity) == ("near_miss", "unverified", 3)
    assert alert.description.startswith("Not verified")
    assert alert.measurements == {"ttc_s": 0.9, "distance_m": 2.1}
    assert alert.track_ids == [7, 8]
    assert alert.keyframe.read()[:2] == b"\xff\xd8" and alert.crop.read()[:2] == b"\xff\xd8"
    assert (alert.detected_at - alert.event_started_at).total_seconds() == pytest.approx(0.4, abs=0.01)


def test_recording_one_event_twice_gives_one_alert() -> None:
    from alerts.record import record_alert

    camera = make_camera()
    event, frame = frame_with_event(camera.pk)
    payload = candidates.build_payload(event, frame, bundled_image().read_bytes(), "s2")
    first, created = record_alert(payload)
    again, created_again = record_alert(payload)
    assert created and not created_again and first.pk == again.pk
    assert Alert.objects.filter(idempotency_key=payload["event_key"]).count() == 1


def test_the_crop_covers_the_traffic_group_with_a_margin() -> None:
    import cv2
    import numpy as np

    jpeg = bundled_image().read_bytes()
    crop = candidates.crop_jpeg(jpeg, (0.1, 0.2, 0.6, 0.8))
    image = cv2.imdecode(np.frombuffer(crop, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape[1] == pytest.approx(810 * 0.5 * 1.3, abs=3)
    assert image.shape[0] == pytest.approx(1080 * 0.6 * 1.3, abs=3)
    assert candidates.crop_jpeg(jpeg, None) is None
